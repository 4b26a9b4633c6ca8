package attest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// messageContext opens every message: it separates these signatures from
// any other use of the manufacturer key and carries the scheme's version.
const messageContext = "provisiond device attestation v1"

// Message is what a statement vouches for: one provisioning of one key.
type Message struct {
	// CertificateID is the service's id of the new certificate, the nonce.
	CertificateID string
	// TemplateName is the provisioning template the device registers with.
	TemplateName string
	// ClientID is the MQTT client id of the claim session.
	ClientID string
	// SPKI is the new certificate's SubjectPublicKeyInfo (DER).
	SPKI []byte
}

// Bytes is the message's fixed encoding: the context string, a zero byte,
// then each field as a 4-byte big-endian length and its bytes, in the
// order of the struct. Lengths make it unambiguous.
func (m Message) Bytes() []byte {
	var b bytes.Buffer
	b.WriteString(messageContext)
	b.WriteByte(0)
	for _, f := range m.fields() {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		b.Write(n[:])
		b.Write(f)
	}
	return b.Bytes()
}

// Digest is SHA-256 of Bytes: the qualifyingData of TPM2_Certify.
func (m Message) Digest() []byte {
	sum := sha256.Sum256(m.Bytes())
	return sum[:]
}

func (m Message) fields() [][]byte {
	return [][]byte{[]byte(m.CertificateID), []byte(m.TemplateName), []byte(m.ClientID), m.SPKI}
}

// ParseMessage parses Bytes' encoding.
func ParseMessage(data []byte) (Message, error) {
	rest, ok := bytes.CutPrefix(data, []byte(messageContext+"\x00"))
	if !ok {
		return Message{}, errors.New("does not start with the context string " + fmt.Sprintf("%q", messageContext) + " (another scheme or version)")
	}
	var fields [4][]byte
	for i := range fields {
		if len(rest) < 4 {
			return Message{}, fmt.Errorf("ends before field %d", i+1)
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return Message{}, fmt.Errorf("field %d is longer than the message", i+1)
		}
		fields[i], rest = rest[:n], rest[n:]
	}
	if len(rest) != 0 {
		return Message{}, errors.New("has bytes after its last field")
	}
	return Message{CertificateID: string(fields[0]), TemplateName: string(fields[1]),
		ClientID: string(fields[2]), SPKI: bytes.Clone(fields[3])}, nil
}
