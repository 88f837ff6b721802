#!/usr/bin/env bash
#  Writes the hand-made seeds of fuzz/corpus/ (run from the top of the
#  tree). It only writes its own files: inputs added to the corpus from a
#  fuzzing run stay. The input formats are described at the top of each
#  fuzz/fuzz_<target>.c.
set -eu
cd "$(dirname "$0")/.."

zeros () {
    head -c "$1" /dev/zero
}

byte () {
    printf "\\x$(printf %02x "$1")"
}

#  A ZMTP 3 greeting: greeting MECHANISM [AS_SERVER [MAJOR [MINOR]]]
greeting () {
    printf '\xff\x00\x00\x00\x00\x00\x00\x00\x00\x7f'
    byte "${3:-3}"; byte "${4:-0}"
    printf '%s' "$1"; zeros $((20 - ${#1}))
    byte "${2:-0}"; zeros 31
}

#  -------------------------------------------------------------------------
#  Greetings: one plan byte (0: all at once, else two chunk sizes in its
#  nibbles), then the bytes
dir=fuzz/corpus/greeting
mkdir -p $dir
{ byte 0;    greeting NULL; }                     > $dir/null-at-once
{ byte 0x00; greeting NULL 1; }                   > $dir/null-as-server
{ byte 0x11; greeting PLAIN; }                    > $dir/plain-2-byte-chunks
{ byte 0x00; greeting PLAIN 1 3 1; }              > $dir/plain-zmtp-3.1
{ byte 0x0f; greeting CURVE 0 3 0; }              > $dir/curve-1-and-16
{ byte 0xa3; greeting CURVE 1; }                  > $dir/curve-as-server
{ byte 0x00; greeting GSSAPI; }                   > $dir/gssapi
{ byte 0x55; greeting X-MY_MECH.2+; }             > $dir/all-mechanism-chars
{ byte 0x00; greeting ABCDEFGHIJKLMNOPQRST; }     > $dir/mechanism-20-chars
{ byte 0x00; greeting CURVE 0 4 2; }              > $dir/zmtp-4
#  A greeting and the READY command that follows it
{ byte 0x7f; greeting NULL; printf '\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER'; } \
                                                  > $dir/null-then-ready
{ byte 0x00; greeting CURVE | head -c 11; }       > $dir/prefix-only
{ byte 0x00; greeting CURVE | head -c 40; }       > $dir/mechanism-only
{ byte 0x00; greeting CURVE | head -c 63; }       > $dir/one-byte-short
#  Rejections
{ byte 0x00; printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'; } > $dir/bad-http
{ byte 0x00; printf '\x01\x00'; }                 > $dir/bad-zmtp-1.0-short
{ byte 0x00; greeting NULL | head -c 9; printf '\x7e'; } > $dir/bad-zmtp-1.0-long
{ byte 0x00; greeting NULL 0 2 0; }               > $dir/bad-zmtp-2
{ byte 0x00; greeting NULL 0 1 0; }               > $dir/bad-zmtp-1
{ byte 0x00; greeting curve; }                    > $dir/bad-mechanism-lowercase
{ byte 0x00; greeting ""; }                       > $dir/bad-mechanism-empty
{ byte 0x00; greeting 'CURVE PLAIN'; }            > $dir/bad-mechanism-space
{ byte 0x21; greeting NULL | head -c 14; printf '\x00X'; zeros 60; } > $dir/bad-mechanism-after-nul

#  -------------------------------------------------------------------------
#  Control: one setup byte (bits 0-1 clients, 2-3 workers, 4-5 first
#  mechanism, 6 short timers, 7 no fallback), then lines; '\t' splits frames
dir=fuzz/corpus/control
mkdir -p $dir
#  Three workers (NULL, PLAIN, CURVE) and three clients (no greeting, NULL, PLAIN)
full=0x1f
control () {
    local name=$1 setup=$2
    shift 2
    { byte "$setup"; printf "$@"; } > "$dir/$name"
}
control ping             $full 'PING\nping\n'
control ping-bad         $full 'PING\textra\nSTATS\tx\nFROB\n'
control reports          $full 'STATS\nLIST\nWORKERS\nCLIENTS\nROUTES\n'
control reports-empty    0x00  'STATS\nLIST\nWORKERS\nCLIENTS\nROUTES\n'
control pause-resume     $full 'PAUSE\n@6000\nRESUME\n@6000\nLIST\n'
control terminate        $full 'TERMINATE\n'
control identify         $full 'IDENTIFY\tbackend\t10.1.0.1:6001\tbilling-1\nIDENTIFY\tfrontend\t[fd00:0::3]:5003\tbranch\nIDENTIFY\tbackend\t10.1.0.4:6004\tlater\n+\x01\nLIST\nWORKERS\nCLIENTS\nROUTES\n'
control identify-bad     $full 'IDENTIFY\tsideways\t10.1.0.1:6001\tx\nIDENTIFY\tbackend\tnowhere\tx\nIDENTIFY\tbackend\t10.1.0.1:0\tx\nIDENTIFY\tbackend\t[::1:6001\tx\nIDENTIFY\tbackend\t10.1.0.1:6001\tname"with\\quote\nIDENTIFY\tbackend\t10.1.0.1:6001\nIDENTIFY\tbackend\t10.1.0.1:6001\taaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n'
control identify-wait    0x40  'IDENTIFY\tfrontend\t10.0.0.1:5001\tlate\n+\x06\n@100\n+\x02\n@300\nCLIENTS\n'
control alias            $full 'ALIAS\tbackend\t10.1.0.0/16\tpool-a\nALIAS\tfrontend\tfd00::/16\tv6\nALIAS\tbackend\t10.1.0.2\tpool-b\n+\x07\nWORKERS\nROUTES\nUNALIAS\tbackend\t10.1.0.0/16\nROUTES\n'
control alias-bad        $full 'ALIAS\tbackend\t10.1.0.0/33\tx\nALIAS\tbackend\tnonsense\tx\nALIAS\tbackend\tfd00::/129\tx\nALIAS\tmiddle\t10.0.0.0/8\tx\nALIAS\tbackend\t10.0.0.0/8\nUNALIAS\tbackend\t10.9.9.9\nUNALIAS\tbackend\n'
control route            $full 'ROUTE\t10.0.0.1\tpool-a\tpool-b\nIDENTIFY\tbackend\t10.1.0.9:6009\tpool-b\nROUTES\nCLIENTS\nUNROUTE\t10.0.0.1\nROUTES\n'
control route-16         $full 'ROUTE\tc\tw1\tw2\tw3\tw4\tw5\tw6\tw7\tw8\tw9\tw10\tw11\tw12\tw13\tw14\tw15\tw16\nROUTES\n'
control route-bad        $full 'ROUTE\tc\tw1\tw2\tw3\tw4\tw5\tw6\tw7\tw8\tw9\tw10\tw11\tw12\tw13\tw14\tw15\tw16\tw17\nROUTE\tc\nUNROUTE\tnobody\nROUTE\tc\tw 1\n'
#  A route that waits for its worker, then the worker arrives
control route-wait       0xc0  'ROUTE\t10.0.0.1\tw1\tw2\nIDENTIFY\tbackend\t10.1.0.1:6001\tw1\n+\x06\n@300\nCLIENTS\n@300\n+\x07\nCLIENTS\nWORKERS\n@3000\nLIST\n'
control drain            $full 'DRAIN\t10.1.0.1\nWORKERS\n+\x02\nUNDRAIN\t10.1.0.1\nWORKERS\nDRAIN\t!\nDRAIN\n'
control drain-all        $full '+\x07\n+\x06\n>\x00hello\nDRAIN\tALL\nSTATS\n+\x05\nLIST\n-\x00\nSTATS\n'
control loglevel         $full 'LOGLEVEL\nLOGLEVEL\tdebug\nLOGLEVEL\terror\nLOGLEVEL\tloud\nLOGLEVEL\tinfo\tx\nLOGLEVEL\tinfo\n'
control weight           $full 'WEIGHT\t10.1.0.1\t1\nWEIGHT\t10.1.0.2\t1000000\nWORKERS\n'
control weight-bad       $full 'WEIGHT\tw\t0\nWEIGHT\tw\t1000001\nWEIGHT\tw\tabc\nWEIGHT\tw\t-5\nWEIGHT\tw\t7x\nWEIGHT\tw\n'
control load             $full 'LOAD\t10.1.0.1\t0\nLOAD\t10.1.0.2\t0.5\nLOAD\t10.1.0.3\t1\nWORKERS\n+\x00\n'
control load-bad         $full 'LOAD\tw\t1.5\nLOAD\tw\tnan\nLOAD\tw\t-0.1\nLOAD\tw\t1e\nLOAD\tw\tinf\n'
control heartbeat        $full 'HEARTBEAT\t10.1.0.1\t100\nHEARTBEAT\t10.0.0.2\n@250\nLIST\n@500\nLIST\nSTATS\n'
control heartbeat-bad    $full 'HEARTBEAT\tw\t0\nHEARTBEAT\tw\t86400001\nHEARTBEAT\tw\tabc\nHEARTBEAT\nHEARTBEAT\tw\t1\t2\n'
control frames-bad       $full '\n\t\nPING\t\n\x01\nPI\x7fNG\nSTATS\xff\nPING\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n'
control frame-long       $full "IDENTIFY\tbackend\t10.1.0.1:6001\t$(head -c 300 /dev/zero | tr '\0' 'n')\n"
#  Peers: connect, send bytes through a pair, disconnect
control traffic          0x00  '+\x07\n+\x06\n>\x00hello\n>\x01world\nLIST\n-\x01\nLIST\nSTATS\n'
#  A worker's greeting in two pieces (a greeting holds no '\n')
{ byte 0x00; printf '+\x01\n>\x01'; greeting CURVE | head -c 17
  printf '\n>\x01'; greeting CURVE | tail -c 47; printf '\nWORKERS\n'; } > $dir/greeting-by-line
#  The engine answers would-block, then connection-gone, then OK again
control blocked-engine   $full '+\x07\n~\n>\x00held\n>\x01held\n@100\n~\n>\x00gone\n@100\n~\n@100\nSTATS\n-\x00\n'
control gone-engine      0x00  '~\n~\n+\x07\n+\x06\n~\n+\x07\n+\x06\n>\x00hello\nLIST\n'
control timeouts         0x4f  '@1000\nLIST\n@5000\nLIST\n@20000\nSTATS\n'

#  Guarded handshakes: a client's READY passes its screening; bans
control screened         0x00  '+\x07\n+\x06\n>\x00\x04\x06\x05READY\n>\x01\x04\x06\x05READY\nLIST\nSTATS\n'
control screened-garbage 0x00  '+\x07\n+\x06\n>\x00\xffGET /\nLIST\nSTATS\nBANS\n'
control bans             $full 'BANS\nUNBAN\t10.0.0.1\nUNBAN\nUNBAN\ta\tb\nBANS\n'

#  -------------------------------------------------------------------------
#  Frames after a greeting: one plan byte, one mechanism byte (0 NULL,
#  1 PLAIN, 2 CURVE, 3 another), then the bytes
dir=fuzz/corpus/frames
mkdir -p $dir
frames () {
    local name=$1 plan=$2 mechanism=$3
    shift 3
    { byte "$plan"; byte "$mechanism"; printf "$@"; } > "$dir/$name"
}
#  A command: command NAME EXTRA_ZERO_BYTES (a short frame)
command () {
    byte 4; byte $((1 + ${#1} + $2)); byte ${#1}; printf '%s' "$1"; zeros "$2"
}
frames null-ready        0x00 0 '\x04\x1c\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER'
frames null-ready-bytes  0x11 0 '\x04\x06\x05READY\x00\x03abc\x01\x01x\x00\x00'
frames plain-hello       0x21 1 '\x04\x13\x05HELLO\x05admin\x06secret'
frames plain-error       0x00 1 '\x04\x0a\x05ERROR\x03400'
frames plain-error-libzmq 0x11 1 '\x04\x09\x5eRROR\x03400'
{ byte 0x3f; byte 2; byte 4; byte 200; byte 5; printf HELLO; byte 1; zeros 193
  command WELCOME 160; command INITIATE 200; command READY 40
  printf '\x04\x10\x07MESSAGE'; zeros 8; } > $dir/curve-handshake
frames curve-short       0x00 2 '\x04\x06\x05HELLO'
frames other-mechanism   0x05 3 '\x04\x06\x05TOKEN\x00\x04data'
frames garbage           0x00 0 'GET / HTTP/1.1\r\n\r\n'
frames oversized         0x00 2 '\x06\x40\x00\x00\x00\x00\x00\x00\x00'
frames long-frame        0x07 3 '\x02\x00\x00\x00\x00\x00\x00\x01\x00'
frames command-more      0x00 0 '\x05\x06\x05READY'

#  -------------------------------------------------------------------------
#  Route files
dir=fuzz/corpus/routes
mkdir -p $dir
routes () {
    local name=$1
    shift
    printf "$@" > "$dir/$name"
}
routes readme         '# backend hosts\nALIAS backend 10.1.0.0/16 pool-a\nALIAS backend 10.2.0.5    pool-b\nALIAS frontend 192.168.7.0/24 branch-office\nROUTE branch-office pool-b pool-a\nWEIGHT pool-a 3\n'
routes empty          ''
routes comments-only  '# nothing\n\n   # indented comment\n\t\n'
routes ipv6           'ALIAS frontend fd00::/16 v6-clients\nALIAS backend ::1 local\nALIAS backend ::ffff:10.0.0.1 mapped\nALIAS backend 0.0.0.0/0 everyone\n'
routes crlf-tabs      'ALIAS\tbackend\t10.1.0.0/16\tpool-a\r\nROUTE c pool-a # trailing comment\r\nweight pool-a 1000000'
routes route-16       'ROUTE c w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16\n'
routes lowercase      'alias backend 10.0.0.0/8 pool\nroute client pool\nweight pool 2\n'
routes replace        'ALIAS backend 10.1.0.0/16 pool-c\nROUTE branch pool-c\n'
routes bad-command    'ALIAS backend 10.1.0.0/16 pool-a\nDRAIN pool-a\n'
routes bad-side       'ALIAS sideways 10.0.0.0/8 x\n'
routes bad-cidr       'ALIAS backend 10.0.0.0/33 x\nALIAS backend 300.1.1.1 y\n'
routes bad-weight     'WEIGHT pool-a 0\n'
routes bad-weight-big 'WEIGHT pool-a 1000001\n'
routes bad-usage      'ROUTE c\nALIAS backend 10.0.0.1\nWEIGHT w\n'
routes bad-name       'ROUTE client "quoted\\name"\n'
routes bad-17-workers 'ROUTE c w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16 w17\n'
routes bad-long-name  "ROUTE c $(head -c 64 /dev/zero | tr '\0' 'w')\n"
routes bad-long-line  "# $(head -c 1100 /dev/zero | tr '\0' '-')\nWEIGHT w 2\n"
routes bad-last-line  'WEIGHT w 2\nWEIGHT w two'
