// udpsend measures what one UDP datagram costs on its way through a path of veths and network
// namespaces. A veth hands a packet to its peer on the sending CPU, so the send loop's wall time
// per datagram is the CPU cost of the whole path (every hop's routing, rules and netfilter).
//
//	udpsend -recv ADDR:PORT   binds the port and never reads: once its queue is full, datagrams
//	                          are dropped at the very end of the path, with no receiver wake-ups
//	udpsend ADDR:PORT N       sends 20000 datagrams to warm up, then N, and prints the mean
//	                          nanoseconds per datagram
//
// Datagrams carry 1400 bytes, as the iperf bench's, so nothing fragments at MTU 1500.
// Used by scripts/datagram_cost.sh; built by it with the Debian golang-go toolchain.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-recv" {
		conn, err := net.ListenPacket("udp", os.Args[2])
		if err != nil {
			fmt.Fprintf(os.Stderr, "udpsend: cannot listen on %s: %v\n", os.Args[2], err)
			os.Exit(1)
		}
		defer conn.Close()
		time.Sleep(24 * time.Hour)
		return
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: udpsend -recv ADDR:PORT | udpsend ADDR:PORT COUNT")
		os.Exit(2)
	}
	count, err := strconv.Atoi(os.Args[2])
	if err != nil || count <= 0 {
		fmt.Fprintf(os.Stderr, "udpsend: COUNT must be a positive integer, not %q\n", os.Args[2])
		os.Exit(2)
	}
	conn, err := net.Dial("udp", os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "udpsend: cannot reach %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	payload := make([]byte, 1400)
	for i := 0; i < 20000; i++ {
		conn.Write(payload)
	}
	start := time.Now()
	for i := 0; i < count; i++ {
		conn.Write(payload)
	}
	fmt.Printf("%.0f\n", float64(time.Since(start).Nanoseconds())/float64(count))
}
