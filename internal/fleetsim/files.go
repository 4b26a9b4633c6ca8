package fleetsim

// Files Init writes into the emulator's folder.
const (
	caCertFile      = "ca.pem"
	caKeyFile       = "ca.key"
	serverCertFile  = "server.pem.crt"
	serverKeyFile   = "server.pem.key"
	templatesDir    = "templates"
	daemonConfig    = "provisiond.yaml"
	settingsFile    = "fleetsim.json"
	tokenSecretFile = "token.key"

	// DemoTemplate is the template Init writes.
	DemoTemplate = "GatewayTemplate"
	// DefaultListen is where the emulator listens unless told otherwise.
	DefaultListen = "127.0.0.1:8883"
)

// demoTemplateBody is GatewayTemplate.json: the shape of AWS's own fleet provisioning sample.
const demoTemplateBody = `{
  "Parameters": {
    "SerialNumber": {"Type": "String"},
    "AWS::IoT::Certificate::Id": {"Type": "String"}
  },
  "Resources": {
    "thing": {
      "Type": "AWS::IoT::Thing",
      "Properties": {
        "ThingName": {"Fn::Join": ["", ["gw-", {"Ref": "SerialNumber"}]]},
        "AttributePayload": {"serialNumber": {"Ref": "SerialNumber"}}
      },
      "OverrideSettings": {
        "AttributePayload": "MERGE",
        "ThingTypeName": "REPLACE",
        "ThingGroups": "DO_NOTHING"
      }
    },
    "certificate": {
      "Type": "AWS::IoT::Certificate",
      "Properties": {
        "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
        "Status": "Active"
      }
    },
    "policy": {
      "Type": "AWS::IoT::Policy",
      "Properties": {
        "PolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"iot:Connect\",\"iot:Publish\",\"iot:Subscribe\",\"iot:Receive\"],\"Resource\":\"*\"}]}"
      }
    }
  },
  "DeviceConfiguration": {
    "FallbackUrl": "https://www.example.com/test-site",
    "LocationUrl": "https://iot.example.com/gateways"
  }
}
`

// daemonConfigHead and daemonConfigTail are provisiond.yaml around its claims; %s is
// the endpoint.
const daemonConfigHead = `# provisiond config for the fleetsim emulator in this folder (written by fleetsim init).
endpoint: %s
root_ca: ca.pem
`

const daemonConfigTail = `template:
  name: GatewayTemplate
  parameters: {SerialNumber: "0001"}
payload_format: json
certificate_method: csr
key_type: ec-p256
client_id: gateway-0001
state_directory: state
`
