// Package registry is the emulator's registry of things, certificates, policies and the
// templates created over the API, in dir/registry.db: SQLite (modernc.org/sqlite, pure
// Go) in WAL mode, so that `fleetsim registry` and the API read it while serve writes.
// It is the only package of the emulator that knows SQL: the MQTT side and the API ask
// it typed questions (Store.ListThings, Tx.Certificate, …) and make their changes in
// Store.Write.
//
// Every change an answer reports (a certificate issued, a thing registered, a status
// changed over the API) is committed before Write returns: whoever reads after an answer
// sees it. Durability is synchronous=NORMAL: in WAL mode a commit has been written to the
// log (the kernel's page cache) when it returns, so a killed emulator (SIGKILL, a panic)
// loses no committed registration; only a crash of the machine itself may lose the last
// commits before a checkpoint. FULL would add an fsync to every registration, which a
// storm pays on every device, for a guarantee an emulator does not need. An old
// registry.json is imported once and renamed registry.json.imported.
package registry
