package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"time"
)

// ServeOptions configure Serve.
type ServeOptions struct {
	// Addr is the address to listen on (127.0.0.1:7300 when empty; port 0 picks one).
	Addr string
	// Token is required from clients on every API call and the WebSocket, loopback included
	// (any local user can reach a loopback port); empty generates a random one per start.
	Token string
	// Web is the built frontend (see HandlerOptions.Web).
	Web fs.FS
	// Out receives the "atoll: serving <url>" line once listening (and the token, if any).
	Out io.Writer
}

// DefaultAddr is where `atoll serve` listens by default.
const DefaultAddr = "127.0.0.1:7300"

// Serve serves the studio over HTTP until ctx ends, then shuts the server down. It prints
// "atoll: serving http://HOST:PORT/" to opts.Out once it accepts connections, then
// "atoll: open http://HOST:PORT/#token=TOKEN ...": the address that opens the studio.
func Serve(ctx context.Context, svc *Service, opts ServeOptions) error {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	loopback := isLoopbackListener(ln.Addr())
	if opts.Token == "" {
		opts.Token = newToken()
	}
	h := NewHandler(svc, HandlerOptions{Token: opts.Token, Web: opts.Web, LoopbackOnly: loopback})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	url := "http://" + displayAddr(opts.Addr, ln.Addr()) + "/"
	fmt.Fprintf(opts.Out, "atoll: serving %s\n", url)
	fmt.Fprintf(opts.Out, "atoll: open %s#token=%s (API clients send Authorization: Bearer %s)\n", url, opts.Token, opts.Token)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return nil
}

func isLoopbackListener(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// displayAddr is the host:port to print: the listener's, with the host as the user wrote it
// when it was a name (localhost) and a dialable host for an unspecified one.
func displayAddr(asked string, got net.Addr) string {
	ta, ok := got.(*net.TCPAddr)
	if !ok {
		return got.String()
	}
	host, _, _ := net.SplitHostPort(asked)
	switch {
	case host == "" || ta.IP.IsUnspecified():
		host = "127.0.0.1"
	case net.ParseIP(host) == nil:
		// a name: keep it
	default:
		host = ta.IP.String()
	}
	return net.JoinHostPort(host, fmt.Sprint(ta.Port))
}

func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
