package fleetsim

import (
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/zap"
)

// StatusRevoked is a certificate revoked over the API: it never connects again.
const StatusRevoked = "REVOKED"

type certSummary struct {
	CertificateArn  string  `json:"certificateArn"`
	CertificateID   string  `json:"certificateId"`
	Status          string  `json:"status"`
	CertificateMode string  `json:"certificateMode"`
	CreationDate    float64 `json:"creationDate"`
}

func (a *apiServer) listCertificates(q apiRequest) (any, *awsError) {
	p, aerr := q.pageOf("pageSize", "marker")
	if aerr != nil {
		return nil, aerr
	}
	// Newest first unless isAscendingOrder, by creation date; the marker is where the
	// last page ended.
	cmp, order, aerr := q.sortOrder()
	if aerr != nil {
		return nil, aerr
	}
	where, args := "1", []any{}
	if p.after != "" {
		at, id, ok := strings.Cut(p.after, "/")
		n, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil {
			return nil, invalid("marker is not a marker this API returned")
		}
		where, args = "(created_at, id) "+cmp+" (?, ?)", []any{n, id}
	}
	rows, err := a.s.reg.rdb.Query(`SELECT id, status, created_at FROM certificates WHERE `+where+
		` ORDER BY created_at `+order+`, id `+order+` LIMIT ?`, append(args, p.size+1)...)
	if err != nil {
		return nil, internalErr(err)
	}
	defer rows.Close()
	out := struct {
		Certificates []certSummary `json:"certificates"`
		NextMarker   string        `json:"nextMarker,omitempty"`
	}{Certificates: []certSummary{}}
	var lastAt int64
	for rows.Next() {
		var c certSummary
		var at int64
		if err := rows.Scan(&c.CertificateID, &c.Status, &at); err != nil {
			return nil, internalErr(err)
		}
		if len(out.Certificates) == p.size {
			out.NextMarker = nextToken(fmt.Sprintf("%d/%s", lastAt, out.Certificates[p.size-1].CertificateID))
			break
		}
		lastAt = at
		c.CertificateArn, c.CertificateMode, c.CreationDate = certificateARN(c.CertificateID), "DEFAULT", epoch(time.Unix(0, at))
		out.Certificates = append(out.Certificates, c)
	}
	return out, nil
}

func (a *apiServer) certificateParam(q apiRequest) (string, *awsError) {
	id := q.path("certificateId")
	id = strings.TrimPrefix(id, "0x")
	if aerr := checkName("certificateId", id, certificateRE); aerr != nil {
		return "", aerr
	}
	return strings.ToLower(id), nil
}

func (a *apiServer) certificateMustExist(id string) (Certificate, *awsError) {
	c, ok, err := a.s.reg.certificate(id)
	if err != nil {
		return c, internalErr(err)
	}
	if !ok {
		return c, notFound("Certificate %s cannot be found.", id)
	}
	return c, nil
}

func (a *apiServer) describeCertificate(q apiRequest) (any, *awsError) {
	id, aerr := a.certificateParam(q)
	if aerr != nil {
		return nil, aerr
	}
	c, aerr := a.certificateMustExist(id)
	if aerr != nil {
		return nil, aerr
	}
	var modified int64
	if err := a.s.reg.rdb.QueryRow(`SELECT modified_at FROM certificates WHERE id = ?`, id).Scan(&modified); err != nil {
		return nil, internalErr(err)
	}
	type validity struct {
		NotBefore float64 `json:"notBefore"`
		NotAfter  float64 `json:"notAfter"`
	}
	var v *validity
	if x, err := parseCertPEM([]byte(c.CertificatePEM)); err == nil {
		v = &validity{epoch(x.NotBefore), epoch(x.NotAfter)}
	}
	type description struct {
		CertificateArn   string    `json:"certificateArn"`
		CertificateID    string    `json:"certificateId"`
		CACertificateID  string    `json:"caCertificateId"`
		Status           string    `json:"status"`
		CertificatePem   string    `json:"certificatePem"`
		OwnedBy          string    `json:"ownedBy"`
		CreationDate     float64   `json:"creationDate"`
		LastModifiedDate float64   `json:"lastModifiedDate"`
		CustomerVersion  int       `json:"customerVersion"`
		GenerationID     string    `json:"generationId"`
		Validity         *validity `json:"validity,omitempty"`
		CertificateMode  string    `json:"certificateMode"`
	}
	return map[string]description{"certificateDescription": {
		CertificateArn: certificateARN(id), CertificateID: id, CACertificateID: certificateID(a.s.ca.cert.Raw),
		Status: c.Status, CertificatePem: c.CertificatePEM, OwnedBy: apiAccount,
		CreationDate: epoch(c.CreatedAt), LastModifiedDate: epoch(time.Unix(0, modified)), CustomerVersion: 1,
		GenerationID: strconv.FormatInt(modified, 10), Validity: v, CertificateMode: "DEFAULT",
	}}, nil
}

func (a *apiServer) updateCertificate(q apiRequest) (any, *awsError) {
	id, aerr := a.certificateParam(q)
	if aerr != nil {
		return nil, aerr
	}
	status, _ := q.query("newStatus")
	switch status {
	case StatusActive, StatusInactive, StatusRevoked:
	case "PENDING_TRANSFER", "REGISTER_INACTIVE", StatusPendingActivation:
		return nil, invalid("newStatus %s is not supported by the emulator: use ACTIVE, INACTIVE or REVOKED", status)
	default:
		return nil, invalid("newStatus %q must be one of ACTIVE, INACTIVE, REVOKED", status)
	}
	err := a.s.reg.write(func(tx dbtx) error {
		c, ok, err := readCertificate(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			aerr = notFound("Certificate %s cannot be found.", id)
			return aerr
		}
		if c.Status == StatusRevoked && status != StatusRevoked {
			aerr = apiErr(406, "CertificateStateException", "Certificate %s is REVOKED: its status cannot change.", id)
			return aerr
		}
		_, err = tx.Exec(`UPDATE certificates SET status = ?, modified_at = ? WHERE id = ?`, status, a.s.now().UnixNano(), id)
		return err
	})
	if aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, internalErr(err)
	}
	if status != StatusActive {
		a.s.dropCertificate(id, "certificate is "+status)
	}
	return nil, nil
}

func (a *apiServer) deleteCertificate(q apiRequest) (any, *awsError) {
	id, aerr := a.certificateParam(q)
	if aerr != nil {
		return nil, aerr
	}
	force, aerr := q.boolQuery("forceDelete")
	if aerr != nil {
		return nil, aerr
	}
	err := a.s.reg.write(func(tx dbtx) error {
		c, ok, err := readCertificate(tx, id)
		if err != nil {
			return err
		}
		switch {
		case !ok:
			aerr = notFound("Certificate %s cannot be found.", id)
		case c.Status == StatusActive:
			aerr = apiErr(406, "CertificateStateException", "Certificate %s is ACTIVE: make it INACTIVE or REVOKED before deleting it.", id)
		case c.ThingName != "":
			aerr = apiErr(409, "DeleteConflictException", "Certificate %s is attached to thing %s: detach it first.", id, c.ThingName)
		case len(c.Policies) > 0 && !force:
			aerr = apiErr(409, "DeleteConflictException", "Certificate %s has policies attached (%s): pass forceDelete.", id, strings.Join(c.Policies, ", "))
		}
		if aerr != nil {
			return aerr
		}
		_, err = tx.Exec(`DELETE FROM certificates WHERE id = ?`, id)
		return err
	})
	if aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, internalErr(err)
	}
	a.s.dropCertificate(id, "certificate was deleted")
	return nil, nil
}

// dropCertificate closes the connections made with a certificate that may no longer
// connect, as AWS IoT does when a certificate is deactivated, revoked or deleted.
func (s *Server) dropCertificate(id, why string) {
	s.clients.Range(func(_, v any) bool {
		ci := v.(*clientInfo)
		if ci.certID == id && !ci.cl.Closed() {
			s.log.Info("closing a connection: "+why, zap.String("clientId", ci.cl.ID), zap.String("certificateId", id))
			disconnect(s.broker, ci.cl)
		}
		return true
	})
}

func disconnect(b *mqtt.Server, cl *mqtt.Client) {
	_ = b.DisconnectClient(cl, packets.ErrNotAuthorized)
}

// sortOrder reads isAscendingOrder (default descending) as the comparison that starts a
// page after its marker and the SQL order.
func (q apiRequest) sortOrder() (cmp, order string, aerr *awsError) {
	asc, aerr := q.boolQuery("isAscendingOrder")
	if asc {
		return ">", "ASC", aerr
	}
	return "<", "DESC", aerr
}

type policySummary struct {
	PolicyName string `json:"policyName"`
	PolicyArn  string `json:"policyArn"`
}

func (a *apiServer) listPolicies(q apiRequest) (any, *awsError) {
	p, aerr := q.pageOf("pageSize", "marker")
	if aerr != nil {
		return nil, aerr
	}
	cmp, order, aerr := q.sortOrder()
	if aerr != nil {
		return nil, aerr
	}
	where := "name " + cmp + " ?"
	if p.after == "" {
		where = "? = ''" // the first page
	}
	names, next, aerr := a.listPairs(p, `SELECT '', name FROM policies WHERE `+where+` ORDER BY name `+order)
	if aerr != nil {
		return nil, aerr
	}
	return policyList(names, next), nil
}

func policyList(names []string, next string) any {
	out := struct {
		Policies   []policySummary `json:"policies"`
		NextMarker string          `json:"nextMarker,omitempty"`
	}{Policies: []policySummary{}, NextMarker: next}
	for _, n := range names {
		out.Policies = append(out.Policies, policySummary{n, policyARN(n)})
	}
	return out
}

func (a *apiServer) getPolicy(q apiRequest) (any, *awsError) {
	name := q.path("policyName")
	if aerr := checkName("policyName", name, policyNameRE); aerr != nil {
		return nil, aerr
	}
	var doc string
	var created int64
	err := a.s.reg.rdb.QueryRow(`SELECT document, created_at FROM policies WHERE name = ?`, name).Scan(&doc, &created)
	if err == sql.ErrNoRows {
		return nil, notFound("Policy %s cannot be found.", name)
	}
	if err != nil {
		return nil, internalErr(err)
	}
	return map[string]any{"policyName": name, "policyArn": policyARN(name), "policyDocument": doc,
		"defaultVersionId": "1", "creationDate": epoch(time.Unix(0, created)),
		"lastModifiedDate": epoch(time.Unix(0, created)), "generationId": strconv.FormatInt(created, 10)}, nil
}

// listAttachedPolicies lists a certificate's policies (the only targets the emulator has).
func (a *apiServer) listAttachedPolicies(q apiRequest) (any, *awsError) {
	id, aerr := certificateFromARN(q.path("target"))
	if aerr != nil {
		return nil, aerr
	}
	if _, aerr := q.boolQuery("recursive"); aerr != nil {
		return nil, aerr
	}
	p, aerr := q.pageOf("pageSize", "marker")
	if aerr != nil {
		return nil, aerr
	}
	c, aerr := a.certificateMustExist(id)
	if aerr != nil {
		return nil, aerr
	}
	var names []string
	for _, n := range c.Policies {
		if n > p.after {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	next := ""
	if len(names) > p.size {
		names = names[:p.size]
		next = nextToken(names[p.size-1])
	}
	return policyList(names, next), nil
}
