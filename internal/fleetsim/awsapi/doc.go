// Package awsapi is the emulator's control-plane API (fleetsim serve --api-listen). It speaks
// AWS IoT's REST-JSON protocol as the service model in botocore defines it. The rules it applies to the data plane, as AWS
// documents them:
//   - A certificate made INACTIVE or REVOKED has its open connections closed, and its
//     next CONNECT is refused (not authorized). REVOKED is final.
//   - A deleted certificate cannot connect. Only an INACTIVE or REVOKED certificate
//     attached to no thing may be deleted (policies need forceDelete).
//   - A revoked claim certificate cannot connect, so it cannot provision.
//   - A disabled template answers RegisterThing 403 AccessDenied; a deleted one 404
//     ResourceNotFound, as a name that never existed.
//
// Where AWS documents nothing, the API chooses:
//   - Templates in dir/templates/ and those created over the API are one set; the
//     folder's are changed (their .settings.json) and deleted in the folder, the API's
//     are kept in registry.db. Created templates are disabled unless enabled is true.
//   - A template keeps only its default version: CreateProvisioningTemplateVersion
//     replaces the body and must be given setAsDefault (a folder template stays version 1).
//   - A pre-provisioning hook's targetArn is its http(s) URL: the emulator has no Lambda.
//   - DescribeEndpoint answers the MQTT listener as HOST:PORT, whatever endpointType.
//   - Without credentials any request is accepted, signed or not; with them, a request
//     must be signed (SigV4) with that key, host and the payload's hash signed, dated
//     within 15 minutes, else a 403 with AWS's code (sigv4.go). The secret never appears
//     in a log or an answer.
//   - An unknown path or method is answered 404 UnknownOperationException.
//   - ARNs name account 123456789012 in us-east-1.
//   - IAM is not emulated: a template's provisioningRoleArn is stored, never checked.
//   - A certificate from CreateKeysAndCertificate is a claim (the provisioning topics
//     only); policies attach to certificates only, and a policy keeps version 1.
//   - CreateProvisioningClaim needs an enabled template (403 AccessDeniedException when
//     it is disabled) and hides the claim from ListCertificates.
//   - DescribeCertificate adds certificateDescription.fleetsimThingsRegistered, the things
//     registered through a claim (outside the model: the aws CLI and the SDKs drop it).
//
// It knows the registry (package registry) and asks the rest of the emulator for what
// it needs through Service: the MQTT endpoint, the CA, its connections, and its
// templates in use.
package awsapi
