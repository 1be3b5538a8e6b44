// tcpconn measures what a new TCP connection costs on its way through a path of veths and
// network namespaces: connect, read the server's line, close, one after another. With client and
// server on one CPU, the loop's wall time per connection is the CPU cost of a whole short
// connection (both ends' sockets, every hop's routing and netfilter, connection tracking).
//
//	tcpconn -serve ADDR:PORT   accepts connections, writes "ok\n" to each and closes it (the
//	                           policy bench's agent does the same)
//	tcpconn ADDR:PORT N        makes 200 connections to warm up, then N, and prints the mean
//	                           nanoseconds per connection
//
// Used by scripts/conn_cost.sh; built by it with the Debian golang-go toolchain.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

func serve(addr string) {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tcpconn: cannot listen on %s: %v\n", addr, err)
		os.Exit(1)
	}
	line := []byte("ok\n")
	for {
		conn, err := listener.Accept()
		if err != nil {
			continue
		}
		conn.Write(line)
		conn.Close()
	}
}

func connect(addr string, buf []byte) error {
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	for {
		if _, err := conn.Read(buf); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-serve" {
		serve(os.Args[2])
		return
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: tcpconn -serve ADDR:PORT | tcpconn ADDR:PORT COUNT")
		os.Exit(2)
	}
	count, err := strconv.Atoi(os.Args[2])
	if err != nil || count <= 0 {
		fmt.Fprintf(os.Stderr, "tcpconn: COUNT must be a positive integer, not %q\n", os.Args[2])
		os.Exit(2)
	}
	buf := make([]byte, 64)
	for i := 0; i < 200; i++ {
		if err := connect(os.Args[1], buf); err != nil {
			fmt.Fprintf(os.Stderr, "tcpconn: cannot connect to %s: %v\n", os.Args[1], err)
			os.Exit(1)
		}
	}
	start := time.Now()
	for i := 0; i < count; i++ {
		if err := connect(os.Args[1], buf); err != nil {
			fmt.Fprintf(os.Stderr, "tcpconn: connection %d to %s failed: %v\n", i, os.Args[1], err)
			os.Exit(1)
		}
	}
	fmt.Println(time.Since(start).Nanoseconds() / int64(count))
}
