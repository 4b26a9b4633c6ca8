package connect

// The steps of reaching the service, by the names `provisiond check
// --online` gives its checks, in the order it runs them.
const (
	StepConfig   = "config"
	StepClock    = "clock"
	StepDNS      = "dns"
	StepTCP      = "tcp"
	StepTLS      = "tls"
	StepClaim    = "claim"
	StepMQTT     = "mqtt"
	StepIdentity = "identity"
)

// titles are the names as sentences start with them ("TLS: …").
var titles = map[string]string{
	StepConfig: "Config", StepClock: "Clock", StepDNS: "DNS", StepTCP: "TCP", StepTLS: "TLS",
	StepClaim: "Claim", StepMQTT: "MQTT", StepIdentity: "Identity",
}

// Finding names the step an error belongs to, in check's words.
type Finding struct {
	Check   string // one of the Step constants
	Message string // one line of cause
	Fix     string // what to do, in words
}

// String is the sentence status shows: "TLS: server certificate not trusted by root_ca …".
func (f Finding) String() string {
	return titles[f.Check] + ": " + f.Message
}

// Fixes shared by several findings, and by check's own.
const (
	FixClock     = "set the system clock (enable NTP, e.g. timedatectl set-ntp true) or fix the RTC; provisiond retries once the clock is set"
	FixRootCA    = "set root_ca to the CA that issued the endpoint's certificate (AmazonRootCA1.pem for an -ats endpoint)"
	fixEndpoint  = "check endpoint (host and port) against `aws iot describe-endpoint --endpoint-type iot:Data-ATS`, and that a firewall lets the device reach it (8883, or 443)"
	fixProxyAuth = "set the proxy user and password the proxy expects in proxy (or HTTPS_PROXY)"
	FixClaimCert = "use a claim certificate registered and ACTIVE in this account and region, whose CA the account knows"
	// fixUnknown is the fix of an error no step is known for.
	fixUnknown = "run provisiond check --online for the step that fails"
)

// Explained reports whether the finding names a step it recognised, rather
// than passing on an error it does not know.
func (f Finding) Explained() bool { return f.Fix != fixUnknown }
