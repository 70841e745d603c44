/**
 * The command line's usage text.
 */

import { VERSION } from "../version.ts";

export const USAGE =
  `groktunnel ${VERSION}: put a localhost HTTP server on a public URL

Usage:
  groktunnel <port> [options]        expose localhost:<port> through a server
  groktunnel tcp <port> [options]    expose a TCP service (ssh, a database): tcp://<host>:<n>
  groktunnel [server] [options]      run a server
  groktunnel demo                    server, app and tunnel in one process

  (From a clone: deno run --allow-net --allow-env main.ts <port>. To get a
  groktunnel command: deno install -g --allow-net --allow-env -n groktunnel main.ts)

Options:
  -h, --host <host>        server host; tunnels are <name>.<host>  [localhost]
  -p, --port <port>        server port                             [9999]
      --token <token>      shared secret (or GROKTUNNEL_TOKEN)
      --stall-timeout <seconds>  end a session whose peer reads nothing
                           of what it is owed for this long        [30]
      --memory-budget <MiB>  unread bytes all tunnels may hold: past it
                           windows stop growing, new connections get 503 [128]
      --help               show this help (also -h alone)
      --version            show the version

Client options:
      --server <url>       the server: https://tunnel.example.com[:port]
                           (or http://…, or host:port); replaces -h/-p
      --tls                reach the server over TLS (as an https:// --server)
      --ca <file>          trust this CA for the server (needs --allow-read=<file>)
      --insecure           skip TLS verification; allow a token without TLS
      --local-host <host>  where the local server listens  [127.0.0.1, then ::1]
      --subdomain <name>   ask for this name instead of a random one
      --qr                 also show the URL as a QR code (for phones)
      --remote-port <n>    tcp: ask for this public port
      --quiet              no line per request on the terminal
      --inspect <addr>     the inspector's address         [127.0.0.1:4040, or the next free port]
      --no-inspect         no inspector
      --inspect-rate <n>   requests captured per second at most, for the
                           inspector and the log (0: all)              [1000]
      --forwarded-headers <replace|append|off>
                           X-Forwarded-*/Forwarded for the app: replace what
                           visitors sent with what the server saw, keep theirs
                           and add ours (a proxy in front), or leave alone [replace]
      --host-header <rewrite|value>  Host sent to the app (rewrite: localhost:<port>)
      --basic-auth <user:password>   visitors must log in (repeatable)
      --allow-ip <cidr>    only these visitors (repeatable; the server checks)
      --deny-ip <cidr>     never these visitors (repeatable)
      --proxy-protocol <v1|v2>  send a PROXY header to the app first

Server options:
  -b, --bind <address>     address to listen on (0.0.0.0 for all)  [127.0.0.1]
      --tls-cert <file>    end TLS with this PEM chain (normally *.<host> and <host>)
      --tls-key <file>     its PEM key (both need --allow-read=<file>)
      --http-port <port>   with TLS: plain HTTP here redirects to https (308);
                           it still takes old clients' plain handshakes
      --https-only         with --http-port: refuse tunnels over plain HTTP
      --cert-reload-interval <seconds>  look for new cert files (0: SIGHUP only) [5]
      --max-tunnels <n>            tunnels at once                 [1000]
      --max-tunnels-per-ip <n>     tunnels at once per client IP   [16]
      --max-connections <n>        public connections per tunnel   [4096]
      --peek-timeout <seconds>     time to send a request head     [10]
      --peek-max-bytes <n>         largest request head            [32768]
      --reserved <a,b,...>         names no client may ask for
      --allow-ip <cidr>            visitors allowed to any tunnel (repeatable)
      --deny-ip <cidr>             visitors refused everywhere (repeatable)
      --name-hold <seconds>        a vanished client's name is kept [600]
      --tcp-ports <low-high>       offer TCP tunnels on these ports (off)
      --max-tcp-tunnels-per-ip <n> TCP tunnels at once per client IP [4]
      --shutdown-grace <seconds>   in-flight time on SIGINT/SIGTERM [10]
      --max-owed <bytes>           answers owed to one client before the
                                   server stops reading it        [262144]

Automatic certificates (the server is the DNS server of its zone):
      --acme               get and renew a certificate for <host> and *.<host>
      --public-ip <ip>     the address(es) <host> and *.<host> point at (repeatable)
      --state-dir <dir>    account and certificate (needs --allow-read/--allow-write=<dir>)
      --acme-email <addr>  contact for the CA
      --acme-directory <url|staging|production>  the CA  [production: Let's Encrypt]
      --acme-ca <file>     trust this CA for the ACME server itself (a test CA)
      --acme-renew-before <seconds>  renew this long before expiry [a third of the lifetime]
      --acme-retry <seconds>         first retry after a failed order, doubling to 1 h [60]
      --dns-port <port>    DNS on UDP and TCP (also without --acme)  [53]
      --dns-rate-limit <n> UDP answers per second to one address     [100]

Several nodes (names shared through etcd):
      --cluster <etcd://host:port[,host:port…]>  join a cluster
      --node-id <id>       this node's name, unique in the cluster
      --node-addr <host:port>  where the other nodes reach this one (it listens there)
      --cluster-secret <s> shared by all nodes (or GROKTUNNEL_CLUSTER_SECRET)
      --cluster-tls <cert.pem,key.pem,ca.pem>  hops between nodes over TLS:
                           this node's certificate and key, and the nodes' CA
                           (needs --allow-read for the three)

Examples:
  groktunnel                          # server for *.localhost on :9999
  groktunnel 3000                     # prints http://<name>.localhost:9999
  groktunnel -b 0.0.0.0 -p 443 -h tunnel.example.com --tls-cert c.pem --tls-key k.pem --http-port 80
  groktunnel -b 0.0.0.0 -p 443 -h tunnel.example.com --http-port 80 --acme --public-ip 203.0.113.7 --state-dir /var/lib/groktunnel
  groktunnel 3000 --server https://tunnel.example.com
`;
