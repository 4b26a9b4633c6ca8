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
//
// Group commit. One goroutine owns the connection that writes. Write hands it a change
// and waits; the writer takes every change waiting, up to maxBatch (64), runs each in a
// savepoint of one transaction (a change that refuses undoes only itself; a batch of one
// needs no savepoint), commits once, and only then answers each waiter, in the order they
// asked. Read-your-writes holds (a Write returns after the commit that holds it) and a
// SIGKILL loses nothing answered. A commit that fails fails every change of its batch,
// refusals included, since a refusal may rest on an earlier change of the same batch: the
// emulator answers each with InternalFailure (500), and nothing of the batch is written.
//
// The wait is none: the writer does not linger to gather a batch. A batch is what queued
// while the previous one committed, so a lone change on an idle emulator commits at once
// and a device pays nothing for the batching, while changes that arrive together share
// one commit. The bound of 64 keeps the first change of a batch from waiting behind more
// than about 64 changes' SQL (a few milliseconds), and bounds what one failed commit
// fails. In a 3,000-device storm on a loaded 2-CPU machine (about 120 devices/s) most
// batches held one change and bursts filled them up to the bound: a commit in WAL mode
// costs little next to a device's cryptography, so batches stay small until the writer
// is the bottleneck, which is when they grow.
package registry
