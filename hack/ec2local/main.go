// Command ec2local serves promote/amis/ec2local, a local stand-in for the EC2
// image, snapshot and launch template API and the Auto Scaling instance refresh API
// (both on one URL), for the demo and for trying `bakery promote` on machine
// images, and its rollout to launch templates and groups, without an AWS
// account. It prints the URL and the environment that points
// the AWS SDK (and the AWS CLI) at it. A development helper; never a
// production endpoint: it accepts any access key and checks no signature.
//
//	go run ./hack/ec2local -addr 127.0.0.1:4566 -seed-region us-east-1
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bakeryhq/bakery/promote/amis/ec2local"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4566", "address to listen on")
	seedRegion := flag.String("seed-region", "", "register a sample image in this region and print its id")
	seedName := flag.String("seed-name", "golden-base-dev", "name of the sample image -seed-region registers")
	copyPending := flag.Int("copy-pending", 0, "DescribeImages polls a copied image stays pending for")
	refreshPolls := flag.Int("refresh-polls", ec2local.DefaultRefreshPolls, "DescribeInstanceRefreshes polls an instance refresh stays InProgress for")
	flag.Parse()

	srv := ec2local.New(ec2local.WithCopyPending(*copyPending), ec2local.WithRefreshPolls(*refreshPolls))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	fmt.Printf("ec2local listening on %s\n", url)
	fmt.Printf("  export AWS_ENDPOINT_URL_EC2=%s AWS_ENDPOINT_URL_AUTO_SCALING=%s AWS_ACCESS_KEY_ID=ec2local AWS_SECRET_ACCESS_KEY=ec2local\n", url, url)
	if *seedRegion != "" {
		id := srv.Seed(*seedRegion, ec2local.Image{Name: *seedName, Description: "sample image seeded by hack/ec2local"})
		fmt.Printf("  seeded %s (%s) in %s\n", id, *seedName, *seedRegion)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }) // for hack/setup.sh
	mux.Handle("/", logRequests(srv))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(shutdown)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		stop()
		log.Fatal(err) //nolint:gocritic // stop() has run
	}
}

// logRequests logs each request's action and HTTP status.
func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r) // parses the form into r.Form
		log.Printf("%s %d", r.Form.Get("Action"), rec.status)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}
