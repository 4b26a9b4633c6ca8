package registry

import (
	"database/sql"
	"errors"
)

// Access is what a CONNECT needs of a certificate: whether it may connect and what it
// is granted. It is read without the PEM and the counts that Certificate joins in.
type Access struct {
	Status   string
	Kind     string
	Policies []string
}

// Access reads the certificate's status, kind and policies; false when it is not
// registered.
func (g *Store) Access(id string) (Access, bool, error) { return readAccess(g.read(), id) }

// Access reads, inside the change, what Store.Access reads.
func (t *Tx) Access(id string) (Access, bool, error) { return readAccess(t.q, id) }

func readAccess(q querier, id string) (Access, bool, error) {
	var a Access
	var pol string
	err := q.QueryRow(`SELECT status, kind, policies FROM certificates WHERE id = ?`, id).Scan(&a.Status, &a.Kind, &pol)
	if errors.Is(err, sql.ErrNoRows) {
		return Access{}, false, nil
	}
	if err != nil {
		return Access{}, false, err
	}
	if a.Policies, err = decodePolicies(id, pol); err != nil {
		return Access{}, false, err
	}
	return a, true, nil
}
