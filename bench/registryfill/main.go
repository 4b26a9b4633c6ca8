// Command registryfill is a bench tool for the emulator's registry at scale: it fills a
// folder made by `fleetsim init` with things, and walks the control-plane API's
// list-things over all of them.
//
//	registryfill -dir D -things N     add N things, each with an ACTIVE certificate attached
//	registryfill -api URL -things N   page through ListThings and check it returns N things
//
// The fill goes through the registry's own transactions (package registry), 10,000
// things to a commit, with serve stopped: a storm would take the emulator's
// cryptography per thing (minutes per hundred thousand on two CPUs), where what is
// measured at scale is the registry's size. Each thing is named bulk-NNNNNNN and
// carries a serialNumber attribute, as the demo template makes them; its certificate
// is the claim's PEM under an id of its own (nothing connects with it). The walk asks
// for 250 things a page, follows nextToken to the end, and fails unless the names come
// strictly ascending (no thing twice) and number N (none missed).
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim/registry"
)

func main() {
	dir := flag.String("dir", "", "emulator folder to fill (serve stopped)")
	api := flag.String("api", "", "control-plane API URL to walk ListThings on")
	things := flag.Int("things", 0, "things to add, or that the walk must find")
	flag.Parse()
	var err error
	switch {
	case *things < 1:
		err = errors.New("-things N (N >= 1) is required")
	case *dir != "" && *api == "":
		err = fill(*dir, *things)
	case *api != "" && *dir == "":
		err = walk(*api, *things)
	default:
		err = errors.New("give -dir D (fill) or -api URL (walk)")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "registryfill:", err)
		os.Exit(1)
	}
}

const perCommit = 10000

func fill(dir string, n int) error {
	pem, err := os.ReadFile(filepath.Join(dir, "claim.pem.crt"))
	if err != nil {
		return err
	}
	reg, err := registry.Open(dir)
	if err != nil {
		return err
	}
	start := time.Now()
	created := time.Now().UTC()
	for done := 0; done < n; {
		batch := min(perCommit, n-done)
		if err := reg.Write(func(tx *registry.Tx) error {
			for i := done; i < done+batch; i++ {
				name := fmt.Sprintf("bulk-%07d", i)
				sum := sha256.Sum256([]byte(name))
				id := hex.EncodeToString(sum[:])
				if err := tx.InsertCertificate(registry.Certificate{CertificateID: id, Status: registry.StatusActive,
					Kind: registry.KindDevice, CreatedAt: created, CertificatePEM: string(pem)}); err != nil {
					return err
				}
				if err := tx.WriteThing(registry.Thing{ThingName: name,
					Attributes: map[string]string{"serialNumber": fmt.Sprintf("%07d", i)}}, 1); err != nil {
					return err
				}
				if err := tx.AttachPrincipal(name, id); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			_ = reg.Close()
			return err
		}
		done += batch
		fmt.Fprintf(os.Stderr, "registryfill: %d/%d things in %.0fs\n", done, n, time.Since(start).Seconds())
	}
	return reg.Close()
}

func walk(api string, want int) error {
	start := time.Now()
	token, last, count, pages := "", "", 0, 0
	for {
		q := url.Values{"maxResults": {"250"}}
		if token != "" {
			q.Set("nextToken", token)
		}
		resp, err := http.Get(api + "/things?" + q.Encode())
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("page %d: HTTP %d: %s", pages+1, resp.StatusCode, body)
		}
		var page struct {
			Things []struct {
				ThingName string `json:"thingName"`
			} `json:"things"`
			NextToken string `json:"nextToken"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("page %d: %w", pages+1, err)
		}
		pages++
		for _, t := range page.Things {
			if t.ThingName <= last {
				return fmt.Errorf("page %d: thing %q after %q: not strictly ascending (a thing twice?)", pages, t.ThingName, last)
			}
			last = t.ThingName
			count++
		}
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	if count != want {
		return fmt.Errorf("list-things returned %d things in %d pages, want %d", count, pages, want)
	}
	fmt.Printf("list-things: %d things in %d pages, each once, in %.1fs (%.1f ms a page)\n",
		count, pages, time.Since(start).Seconds(), float64(time.Since(start).Milliseconds())/float64(pages))
	return nil
}
