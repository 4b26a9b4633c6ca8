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
// The wait is short, and only in a crowd. A batch is what queued while the previous one
// committed, and, with SetCommitDelay, what comes within the delay after its first change
// while the caller's busy says enough writers are about and changes stream in (the last
// commit ended less than the delay ago), as PostgreSQL's commit_delay waits only with
// commit_siblings transactions open. A lone change on an idle emulator, or a few devices'
// changes, commit at once and pay nothing for the batching. fleetsim sets the delay and
// the crowd (its commitDelay and commitSiblings): in 5,000-device storms most batches
// otherwise held one change, each commit writing its own WAL frames, and the wait cut
// the emulator's CPU a device by 4 to 9% (docs/PERFORMANCE.md). The bound of 64 ends the
// wait early and keeps the first change of a batch from waiting behind more than about
// 64 changes' SQL (a few milliseconds), and bounds what one failed commit fails.
package registry
