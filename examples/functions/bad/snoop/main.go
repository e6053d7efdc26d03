// Command snoop probes its sandbox and reports what it saw as fields of each row: whether it
// could read a host file, list the root, create a file, see environment variables or arguments,
// and what it read from "/hello.txt" (present only when the node grants allow_dir). It also
// prints a line to stdout and to stderr, which the host routes to the node log. A row with a
// string field "open" also gets "opened" (the file's contents) and "open_error" (why it could
// not be read): the host's tests open paths through links with it.
package main

import (
	"fmt"
	"os"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/sdk/go/atoll"
)

func init() {
	atoll.Map(func(r rows.Row) (rows.Row, error) {
		fmt.Println("snoop: stdout line")
		fmt.Fprintln(os.Stderr, "snoop: stderr line")
		_, err := os.ReadFile("/etc/passwd")
		r.Set("read_passwd", rows.Bool(err == nil))
		entries, err := os.ReadDir("/")
		r.Set("list_root", rows.Int(int64(len(entries))))
		hello, err := os.ReadFile("/hello.txt")
		r.Set("hello", rows.String(string(hello)))
		f, err := os.Create("/written.txt")
		if err == nil {
			f.Close()
		}
		r.Set("create_file", rows.Bool(err == nil))
		r.Set("env", rows.Int(int64(len(os.Environ()))))
		r.Set("args", rows.Int(int64(len(os.Args))))
		if v, ok := r.Get("open"); ok {
			name, _ := v.AsString()
			data, err := os.ReadFile(name)
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			r.Set("opened", rows.String(string(data)))
			r.Set("open_error", rows.String(msg))
		}
		return r, nil
	})
}

func main() {}
