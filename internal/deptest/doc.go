// Package deptest holds the test that keeps the project's boundaries: the
// daemon never links the emulator, the emulator never imports the daemon,
// the state machine stays pure of I/O, the store and the service client
// stay apart, only the emulator's registry knows SQL, the link emulator
// imports no package of the emulator's, and every internal package has its
// row in ARCHITECTURE.md. It has no code of its own.
package deptest
