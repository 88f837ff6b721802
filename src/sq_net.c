/*  =========================================================================
    sq_net - TCP socket helpers the engines share
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <unistd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include "sq_net.h"

//  An IPv4 peer of a socket bound to [::] shows as ::ffff:a.b.c.d: it is
//  named, matched and registered as the IPv4 address it is
static const char *
s_unmapped (const char *ip)
{
    return strncasecmp (ip, "::ffff:", 7) == 0 && strchr (ip + 7, '.')? ip + 7: ip;
}

//  The IP and port of a socket address; false if it is not IPv4 or IPv6
static bool
s_ip_port (const struct sockaddr_storage *address, char *ip, size_t ip_size, int *port)
{
    if (address->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *) address;
        inet_ntop (AF_INET, &v4->sin_addr, ip, (socklen_t) ip_size);
        *port = ntohs (v4->sin_port);
        return true;
    }
    if (address->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *) address;
        inet_ntop (AF_INET6, &v6->sin6_addr, ip, (socklen_t) ip_size);
        *port = ntohs (v6->sin6_port);
        return true;
    }
    return false;
}

bool
sq_net_peer_address (int fd, char *host, size_t host_size, char *address, size_t address_size)
{
    struct sockaddr_storage peer;
    socklen_t peer_size = sizeof peer;
    char ip [INET6_ADDRSTRLEN];
    int port;
    if (getpeername (fd, (struct sockaddr *) &peer, &peer_size) != 0
    ||  !s_ip_port (&peer, ip, sizeof ip, &port))
        return false;
    snprintf (host, host_size, "%s", s_unmapped (ip));
    snprintf (address, address_size, strchr (host, ':')? "[%s]:%d": "%s:%d", host, port);
    return true;
}

//  Splits "tcp://HOST:PORT" into host and port texts; false if malformed
static bool
s_split (const char *endpoint, char *host, size_t host_size, char *port, size_t port_size)
{
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return false;
    const char *rest = endpoint + 6;
    const char *colon = strrchr (rest, ':');
    if (!colon || colon == rest || !colon [1])
        return false;
    size_t length = (size_t) (colon - rest);
    if (rest [0] == '[') {
        if (rest [length - 1] != ']' || length < 3)
            return false;
        rest++;
        length -= 2;
    }
    if (length >= host_size || strlen (colon + 1) >= port_size)
        return false;
    memcpy (host, rest, length);
    host [length] = 0;
    snprintf (port, port_size, "%s", strcmp (colon + 1, "*") == 0? "0": colon + 1);
    for (const char *digit = port; *digit; digit++)
        if (*digit < '0' || *digit > '9')
            return false;
    return atoi (port) <= 65535;
}

//  The address to bind for host ("*": any IPv4); an IPv6 literal was
//  written in brackets. False with a reason when it does not resolve.
static bool
s_resolve (const char *host, bool ipv6, const char *port, struct sockaddr_storage *address,
           socklen_t *size, char *error, size_t error_size)
{
    struct addrinfo hints = { .ai_family = ipv6? AF_INET6: AF_INET,
                              .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
    struct addrinfo *found = NULL;
    int code = getaddrinfo (strcmp (host, "*") == 0? NULL: host, port, &hints, &found);
    if (code != 0 || !found) {
        snprintf (error, error_size, "cannot resolve %s: %s", host, gai_strerror (code));
        return false;
    }
    memcpy (address, found->ai_addr, found->ai_addrlen);
    *size = found->ai_addrlen;
    freeaddrinfo (found);
    return true;
}

//  The endpoint a listening socket is bound to, as libzmq names it
static void
s_bound_name (int fd, char *bound, size_t bound_size)
{
    struct sockaddr_storage local = { .ss_family = AF_UNSPEC };
    socklen_t local_size = sizeof local;
    char ip [INET6_ADDRSTRLEN] = "";
    int port = 0;
    if (getsockname (fd, (struct sockaddr *) &local, &local_size) == 0)
        s_ip_port (&local, ip, sizeof ip, &port);
    snprintf (bound, bound_size, local.ss_family == AF_INET6? "tcp://[%s]:%d": "tcp://%s:%d",
              ip, port);
}

int
sq_net_listen (const char *endpoint, char *bound, size_t bound_size,
               char *error, size_t error_size)
{
    char host [256], port [16];
    if (!s_split (endpoint, host, sizeof host, port, sizeof port)) {
        snprintf (error, error_size, "%s: expected tcp://HOST:PORT", endpoint);
        return -1;
    }
    bool ipv6 = strncmp (endpoint, "tcp://[", 7) == 0;
    struct sockaddr_storage address;
    socklen_t size;
    if (!s_resolve (host, ipv6, port, &address, &size, error, error_size))
        return -1;
    int fd = socket (address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1, off = 0;
    if (fd >= 0) {
        setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (ipv6)
            setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    }
    if (fd < 0 || bind (fd, (struct sockaddr *) &address, size) != 0
    ||  listen (fd, SOMAXCONN) != 0) {
        snprintf (error, error_size, "%s", strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    s_bound_name (fd, bound, bound_size);
    return fd;
}

int
sq_net_accept (int listener)
{
    return accept4 (listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void
sq_net_nodelay (int fd)
{
    int on = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

void
sq_net_keepalive (int fd, const sq_keepalive_t *keepalive)
{
    int on = keepalive->on? 1: 0;
    setsockopt (fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    if (!keepalive->on)
        return;
    if (keepalive->idle_s > 0)
        setsockopt (fd, IPPROTO_TCP, TCP_KEEPIDLE, &keepalive->idle_s, sizeof (int));
    if (keepalive->interval_s > 0)
        setsockopt (fd, IPPROTO_TCP, TCP_KEEPINTVL, &keepalive->interval_s, sizeof (int));
    if (keepalive->count > 0)
        setsockopt (fd, IPPROTO_TCP, TCP_KEEPCNT, &keepalive->count, sizeof (int));
}
