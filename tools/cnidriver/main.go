// Command cnidriver drives CNI plugins through libcni, the library that containerd, CRI-O and
// podman use, so that tern is tested the way a container runtime calls it: the network config
// list is loaded by name from a conf dir, plugins are found on a bin path, capability arguments
// (port mappings) are injected and results are cached in the CNI cache dir.
//
//	cnidriver add|check|del --confdir DIR --bin DIR[:DIR...] --net NAME --netns PATH --id ID
//	          [--ifname eth0] [--port HOST:CONTAINER[/proto] ...] [--arg K=V ...]
//	          [--cachedir DIR] [--timeout 60s]
//	cnidriver bulk add|check|del --pods FILE [--concurrency N] --confdir ... (same flags)
//
// A single ADD prints the result JSON on stdout; CHECK and DEL print nothing. Errors go to
// stderr with exit code 1. `bulk` reads FILE, a JSON array of {"id", "netns", "ifname"?,
// "args"?}, runs the operation for every entry with at most N at a time and prints
// {"results":[{"id","ok","error","ms","ips"}], "wallMs", "concurrency"} in the order of FILE,
// where ms is the duration of the libcni call alone; it exits 1 when any operation failed.
//
// Build: sh scripts/build_driver.sh (GOPATH mode against Debian's golang-github-appc-cni-dev).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// portMapping is one entry of the portMappings capability, as the portmap plugin reads it.
type portMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

// pod is one entry of a bulk file.
type pod struct {
	ID     string            `json:"id"`
	Netns  string            `json:"netns"`
	Ifname string            `json:"ifname,omitempty"`
	Args   map[string]string `json:"args,omitempty"`
}

// outcome is one entry of a bulk report.
type outcome struct {
	ID    string   `json:"id"`
	OK    bool     `json:"ok"`
	Error string   `json:"error"`
	Ms    float64  `json:"ms"`
	IPs   []string `json:"ips"`
}

// options are the flags shared by single and bulk operations.
type options struct {
	confDir     string
	binPath     string
	netName     string
	netns       string
	id          string
	ifname      string
	cacheDir    string
	timeout     time.Duration
	ports       []portMapping
	args        [][2]string
	pods        string
	concurrency int
}

type portList struct{ list *[]portMapping }

func (p portList) String() string { return "" }

func (p portList) Set(value string) error {
	m, err := parsePort(value)
	if err != nil {
		return err
	}
	*p.list = append(*p.list, m)
	return nil
}

type argList struct{ list *[][2]string }

func (a argList) String() string { return "" }

func (a argList) Set(value string) error {
	k, v, ok := strings.Cut(value, "=")
	if !ok || k == "" {
		return fmt.Errorf("CNI argument must be KEY=VALUE: got %q", value)
	}
	*a.list = append(*a.list, [2]string{k, v})
	return nil
}

// parsePort reads HOST:CONTAINER[/proto]; the protocol defaults to tcp.
func parsePort(value string) (portMapping, error) {
	spec, proto, hasProto := strings.Cut(value, "/")
	if !hasProto {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return portMapping{}, fmt.Errorf("Port mapping protocol must be tcp, udp or sctp: got %q", value)
	}
	hostText, containerText, ok := strings.Cut(spec, ":")
	if !ok {
		return portMapping{}, fmt.Errorf("Port mapping must be HOST:CONTAINER[/proto]: got %q", value)
	}
	host, err1 := strconv.Atoi(hostText)
	ctr, err2 := strconv.Atoi(containerText)
	if err1 != nil || err2 != nil || host < 1 || host > 65535 || ctr < 1 || ctr > 65535 {
		return portMapping{}, fmt.Errorf("Port mapping ports must be 1..65535: got %q", value)
	}
	return portMapping{HostPort: host, ContainerPort: ctr, Protocol: proto}, nil
}

func parseFlags(name string, argv []string, bulk bool) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(ioutil.Discard)
	fs.StringVar(&o.confDir, "confdir", "/etc/cni/net.d", "directory of network config lists")
	fs.StringVar(&o.binPath, "bin", "/opt/cni/bin", "plugin directories, colon-separated")
	fs.StringVar(&o.netName, "net", "", "network name (the conflist's \"name\")")
	fs.StringVar(&o.ifname, "ifname", "eth0", "interface name in the container")
	fs.StringVar(&o.cacheDir, "cachedir", "", "CNI cache dir (libcni's default: /var/lib/cni)")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "timeout of each operation")
	fs.Var(portList{&o.ports}, "port", "port mapping HOST:CONTAINER[/proto], repeatable")
	fs.Var(argList{&o.args}, "arg", "CNI_ARGS entry KEY=VALUE, repeatable")
	if bulk {
		fs.StringVar(&o.pods, "pods", "", "JSON file: [{\"id\",\"netns\",\"ifname\"?,\"args\"?}]")
		fs.IntVar(&o.concurrency, "concurrency", 1, "operations in flight at once")
	} else {
		fs.StringVar(&o.netns, "netns", "", "path of the container's network namespace")
		fs.StringVar(&o.id, "id", "", "container ID")
	}
	if err := fs.Parse(argv); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("Unexpected argument: %q", fs.Arg(0))
	}
	if o.netName == "" {
		return nil, errors.New("Missing flag: --net")
	}
	if bulk {
		if o.pods == "" {
			return nil, errors.New("Missing flag: --pods")
		}
		if o.concurrency < 1 {
			return nil, fmt.Errorf("Concurrency must be at least 1: got %d", o.concurrency)
		}
	} else if o.id == "" {
		return nil, errors.New("Missing flag: --id")
	}
	return o, nil
}

// driver holds what every operation shares: the loaded list and the libcni handle.
type driver struct {
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
	o    *options
}

func newDriver(o *options) (*driver, error) {
	list, err := libcni.LoadConfList(o.confDir, o.netName)
	if err != nil {
		return nil, fmt.Errorf("Cannot load network %q from %s: %v", o.netName, o.confDir, err)
	}
	paths := filepath.SplitList(o.binPath)
	return &driver{cni: libcni.NewCNIConfigWithCacheDir(paths, o.cacheDir, nil), list: list, o: o}, nil
}

func (d *driver) runtimeConf(id, netns, ifname string, extra map[string]string) *libcni.RuntimeConf {
	args := append([][2]string{}, d.o.args...)
	for k, v := range extra {
		args = append(args, [2]string{k, v})
	}
	rt := &libcni.RuntimeConf{
		ContainerID: id,
		NetNS:       netns,
		IfName:      ifname,
		Args:        args,
	}
	if len(d.o.ports) > 0 {
		rt.CapabilityArgs = map[string]interface{}{"portMappings": d.o.ports}
	}
	return rt
}

// run performs one operation; the duration covers the libcni call alone.
func (d *driver) run(verb string, rt *libcni.RuntimeConf) (types.Result, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.o.timeout)
	defer cancel()
	start := time.Now()
	var result types.Result
	var err error
	switch verb {
	case "add":
		result, err = d.cni.AddNetworkList(ctx, d.list, rt)
	case "check":
		err = d.cni.CheckNetworkList(ctx, d.list, rt)
	case "del":
		err = d.cni.DelNetworkList(ctx, d.list, rt)
	default:
		err = fmt.Errorf("Unknown command: %q", verb)
	}
	return result, time.Since(start), err
}

func resultIPs(result types.Result) []string {
	ips := []string{}
	if result == nil {
		return ips
	}
	converted, err := current.NewResultFromResult(result)
	if err != nil {
		return ips
	}
	for _, ip := range converted.IPs {
		ips = append(ips, ip.Address.String())
	}
	return ips
}

func single(verb string, argv []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(verb, argv, false)
	if err != nil {
		fmt.Fprintf(stderr, "cnidriver: %v\n", err)
		return 1
	}
	d, err := newDriver(o)
	if err != nil {
		fmt.Fprintf(stderr, "cnidriver: %v\n", err)
		return 1
	}
	result, _, err := d.run(verb, d.runtimeConf(o.id, o.netns, o.ifname, nil))
	if err != nil {
		fmt.Fprintf(stderr, "cnidriver: %s failed: %v\n", verb, err)
		return 1
	}
	if result != nil {
		if err := result.PrintTo(stdout); err != nil {
			fmt.Fprintf(stderr, "cnidriver: Cannot print the result: %v\n", err)
			return 1
		}
	}
	return 0
}

func bulk(argv []string, stdout, stderr io.Writer) int {
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "cnidriver: bulk needs a command: add, check or del")
		return 1
	}
	verb := argv[0]
	if verb != "add" && verb != "check" && verb != "del" {
		fmt.Fprintf(stderr, "cnidriver: Unknown bulk command: %q\n", verb)
		return 1
	}
	o, err := parseFlags("bulk "+verb, argv[1:], true)
	if err != nil {
		fmt.Fprintf(stderr, "cnidriver: %v\n", err)
		return 1
	}
	data, err := ioutil.ReadFile(o.pods)
	if err != nil {
		fmt.Fprintf(stderr, "cnidriver: Cannot read the pods file: %v\n", err)
		return 1
	}
	var pods []pod
	if err := json.Unmarshal(data, &pods); err != nil {
		fmt.Fprintf(stderr, "cnidriver: Cannot parse the pods file %s: %v\n", o.pods, err)
		return 1
	}
	d, err := newDriver(o)
	if err != nil {
		fmt.Fprintf(stderr, "cnidriver: %v\n", err)
		return 1
	}

	results := make([]outcome, len(pods))
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				p := pods[i]
				ifname := p.Ifname
				if ifname == "" {
					ifname = o.ifname
				}
				result, took, err := d.run(verb, d.runtimeConf(p.ID, p.Netns, ifname, p.Args))
				out := outcome{ID: p.ID, OK: err == nil, Ms: roundMs(took), IPs: resultIPs(result)}
				if err != nil {
					out.Error = err.Error()
				}
				results[i] = out
			}
		}()
	}
	for i := range pods {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	wall := time.Since(start)

	report := struct {
		Results     []outcome `json:"results"`
		WallMs      float64   `json:"wallMs"`
		Concurrency int       `json:"concurrency"`
	}{results, roundMs(wall), o.concurrency}
	encoded, err := json.Marshal(report)
	if err != nil {
		fmt.Fprintf(stderr, "cnidriver: Cannot encode the report: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, string(encoded))
	for _, r := range results {
		if !r.OK {
			return 1
		}
	}
	return 0
}

func roundMs(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

const usage = `usage:
  cnidriver add|check|del --confdir DIR --bin DIR[:DIR...] --net NAME --netns PATH --id ID
            [--ifname eth0] [--port HOST:CONTAINER[/proto] ...] [--arg K=V ...]
            [--cachedir DIR] [--timeout 60s]
  cnidriver bulk add|check|del --pods FILE [--concurrency N] --confdir DIR --bin DIR --net NAME
            [--ifname eth0] [--port ...] [--arg ...] [--cachedir DIR] [--timeout 60s]
`

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(argv []string, stdout, stderr io.Writer) int {
	if len(argv) == 0 {
		fmt.Fprint(stderr, usage)
		return 1
	}
	switch argv[0] {
	case "add", "check", "del":
		return single(argv[0], argv[1:], stdout, stderr)
	case "bulk":
		return bulk(argv[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "cnidriver: Unknown command: %q\n%s", argv[0], usage)
		return 1
	}
}
