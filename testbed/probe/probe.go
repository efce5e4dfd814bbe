// probe: the test image of the node tests (scripts/node-binaries.sh builds it into local/probe).
// A static binary in an otherwise empty image, so what a test checks is the node, not a distro.
//
//	probe                    log "probe ready", then wait for SIGTERM
//	probe serve ADDR         HTTP server answering "hello from <hostname>"
//	probe resolve NAME       print NAME's addresses, one a line
//	probe get URL            GET URL, print the body; exit 1 unless 2xx
//	probe whoami             ask the apiserver who the pod's ServiceAccount token belongs to
//	probe write FILE TEXT    write TEXT to FILE
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		fmt.Println("probe ready")
		wait()
		return
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1])
	case "resolve":
		var addrs []string
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if addrs, err = net.DefaultResolver.LookupHost(ctx, args[1]); err == nil {
			fmt.Println(strings.Join(addrs, "\n"))
		}
	case "get":
		err = get(args[1])
	case "whoami":
		err = whoami()
	case "write":
		err = os.WriteFile(args[1], []byte(args[2]), 0o644)
	default:
		err = fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func wait() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}

func serve(addr string) error {
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", host)
	})
	server := &http.Server{Addr: addr}
	go func() {
		wait()
		_ = server.Close()
	}()
	fmt.Printf("serving on %s\n", addr)
	if err := server.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func get(url string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Print(string(body))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", url, res.Status)
	}
	return nil
}

// whoami posts a SelfSubjectReview with the pod's projected token, verifying the apiserver with
// the CA the pod was given, and prints the username the apiserver saw.
func whoami() error {
	token, err := os.ReadFile(serviceAccountDir + "/token")
	if err != nil {
		return err
	}
	caPem, err := os.ReadFile(serviceAccountDir + "/ca.crt")
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPem) {
		return fmt.Errorf("no certificate in ca.crt")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := "https://" + net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")) +
		"/apis/authentication.k8s.io/v1/selfsubjectreviews"
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var review struct {
		Status struct {
			UserInfo struct {
				Username string `json:"username"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&review); err != nil {
		return err
	}
	fmt.Println(review.Status.UserInfo.Username)
	return nil
}
