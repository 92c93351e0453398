package extproc

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// MaxMessageBytes bounds one gRPC message: the config's default
// max_request_body_bytes (32 MiB) plus room for the protobuf framing and the
// headers. gRPC's 4 MiB default would reject large bodies.
const MaxMessageBytes = 32<<20 + 1<<20

// Flow-control windows and socket buffers. Envoy 1.36's HTTP/2 defaults are a
// 16 MiB stream window and a 24 MiB connection window
// (source/common/http/http_option_limits.h), so a body up to 16 MiB goes out
// without waiting for a WINDOW_UPDATE; the same fixed windows on both Go ends
// give that behaviour (and turn off gRPC-Go's BDP probing, which only matters
// on real networks). 1 MiB read/write buffers let a 1 MiB body move in a few
// syscalls instead of 32 KiB ones.
const (
	streamWindowBytes = 16 << 20
	connWindowBytes   = 24 << 20
	bufferBytes       = 1 << 20
)

// ServerOptions are the gRPC server options of the baseline.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.InitialWindowSize(streamWindowBytes),
		grpc.InitialConnWindowSize(connWindowBytes),
		grpc.ReadBufferSize(bufferBytes),
		grpc.WriteBufferSize(bufferBytes),
	}
}

// DialOptions are the client (Envoy stand-in) options.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes),
			grpc.MaxCallSendMsgSize(MaxMessageBytes),
		),
		grpc.WithInitialWindowSize(streamWindowBytes),
		grpc.WithInitialConnWindowSize(connWindowBytes),
		grpc.WithReadBufferSize(bufferBytes),
		grpc.WithWriteBufferSize(bufferBytes),
	}
}

// Listen opens the server's listener: "tcp" on an ephemeral loopback port,
// "unix" on a socket named in dir. It returns the gRPC target a client dials.
func Listen(network, dir string) (net.Listener, string, error) {
	switch network {
	case "tcp":
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, "", err
		}
		// passthrough: the address is already resolved, skip gRPC's DNS
		// resolver.
		return lis, "passthrough:///" + lis.Addr().String(), nil
	case "unix":
		path := filepath.Join(dir, fmt.Sprintf("extproc-%d.sock", os.Getpid()))
		lis, err := net.Listen("unix", path)
		if err != nil {
			return nil, "", err
		}
		return lis, "unix://" + path, nil
	default:
		return nil, "", fmt.Errorf("extproc: unknown network %q (want tcp or unix)", network)
	}
}

// NewGRPCServer returns a gRPC server with srv registered and the baseline's
// options.
func NewGRPCServer(srv *Server) *grpc.Server {
	gs := grpc.NewServer(ServerOptions()...)
	extprocv3.RegisterExternalProcessorServer(gs, srv)
	return gs
}

// Dial connects to target with the baseline's options. The connection is
// established lazily by gRPC; the first request pays for it.
func Dial(target string) (*grpc.ClientConn, error) {
	return grpc.NewClient(target, DialOptions()...)
}
