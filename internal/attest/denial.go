package attest

import "fmt"

// Check names one check of the verifier. A denial's reason starts with it,
// so that a log search finds every failure of one kind.
type Check string

const (
	// CheckFormat: no attestation, or one of an unknown format.
	CheckFormat Check = "format"
	// CheckParameters: a parameter is missing or does not decode.
	CheckParameters Check = "parameters"
	// CheckNewCertificate: the event's certificatePem does not parse.
	CheckNewCertificate Check = "new-certificate"
	// CheckChain: the manufacturer certificate does not chain to an OEM
	// root at this time (another CA, expired, not yet valid).
	CheckChain Check = "chain"
	// CheckSignature: the statement is not signed by the manufacturer
	// certificate's key (forged, or by a key the OEM did not certify).
	CheckSignature Check = "signature"
	// CheckStatement: the signed statement is not a TPM2_Certify result.
	CheckStatement Check = "statement"
	// CheckAttributes: the certified key may leave its TPM (not fixedTPM
	// or fixedParent, or not made inside it).
	CheckAttributes Check = "key-attributes"
	// CheckKeyName: the certified key's TPMT_PUBLIC is not the one whose
	// name the TPM certified.
	CheckKeyName Check = "key-name"
	// CheckCertifiedKey: the statement is for another key than the new
	// certificate's.
	CheckCertifiedKey Check = "certified-key"
	// CheckMessage: the statement is for another provisioning
	// (certificateId, template or client id).
	CheckMessage Check = "message"
	// CheckThingName: the manufacturer certificate gives no usable thing
	// name.
	CheckThingName Check = "thing-name"
)

// Denial is a failed check: the device is not allowed to provision. It
// holds no key material, only what the check compared, in words.
type Denial struct {
	Check Check
	Msg   string
}

func (d *Denial) Error() string { return string(d.Check) + ": " + d.Msg }

func deny(c Check, format string, args ...any) *Denial {
	return &Denial{Check: c, Msg: fmt.Sprintf(format, args...)}
}
