// Package tpmkey keeps a device key inside a TPM 2.0: it creates the key
// under a storage parent so that it can never leave the chip, saves it as a
// TSS2 PRIVATE KEY PEM file (the public area and the TPM-wrapped private
// blob; nothing a thief could use without this TPM), loads it back, signs
// with it as a crypto.Signer, optionally makes it persistent at a handle,
// and turns the TPM's failures into errors that name the setting at fault
// and say whether waiting helps.
//
// The file format is the one OpenSSL's tpm2 provider and tpm2-tss-engine
// load, so the consumers of the handed-over identity use the key as it is.
package tpmkey
