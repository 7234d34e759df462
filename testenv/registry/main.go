// The test world's "ECR": an OCI registry (go-containerregistry's registry, in memory) behind the authentication
// ECR uses — HTTP Basic with user "AWS" and, as password, a token from ECR GetAuthorizationToken. The AWS proxy
// (testenv/aws-proxy) replaces moto's fixed token with "<expiry>.<nonce>.<HMAC-SHA256 of both>" under a key shared
// with this program (-key-file), so the registry accepts exactly the tokens the AWS side issued and only until
// they expire, without asking anyone.
//
//	registry -addr 10.213.0.1:5000 -key-file .testenv/node/registry/token-key
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// validToken reports whether token is "<unix expiry>.<nonce>.<hex HMAC-SHA256(key, expiry.nonce)>", not expired.
func validToken(key []byte, token string, now time.Time) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	expiry, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || now.Unix() >= expiry {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	got, err := hex.DecodeString(parts[2])
	return err == nil && hmac.Equal(got, mac.Sum(nil))
}

func main() {
	addr := flag.String("addr", "10.213.0.1:5000", "listen address")
	keyFile := flag.String("key-file", "", "file holding the token key shared with the AWS proxy")
	flag.Parse()
	key, err := os.ReadFile(*keyFile)
	if err != nil {
		log.Fatalf("token key: %v", err)
	}
	key = []byte(strings.TrimSpace(string(key)))
	oci := registry.New(registry.Logger(log.New(os.Stderr, "", log.LstdFlags)))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		if !ok || user != "AWS" || !validToken(key, password, time.Now()) {
			log.Printf("%s %s: 401 (%s)", r.Method, r.URL.Path, map[bool]string{true: "bad or expired token", false: "no credentials"}[ok])
			w.Header().Set("WWW-Authenticate", `Basic realm="ecr"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		oci.ServeHTTP(w, r)
	})
	log.Printf("listening on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, handler))
}
