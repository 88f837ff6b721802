/*  =========================================================================
    sq_control_auth - CURVE on the control socket, and its ZAP handler

    The handler is a REP socket on inproc://zeromq.zap.01, bound in the
    main thread (before the control socket binds) and then served by a
    thread of its own, so the event loop stays as it is. The set of
    authorised keys is read by both threads and replaced by a reload:
    a mutex guards it. Only the control socket runs a ZMTP handshake in
    the proxy's context (the frontend and backend are ZMQ_STREAM), and
    the handler refuses any request that is not CURVE in its own domain.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include "sq_control_auth.h"
#include "sq_control.h"
#include "sq_cert.h"
#include "sq_clock.h"
#include "sq_log.h"

#define S_ZAP_ENDPOINT  "inproc://zeromq.zap.01"
#define S_ZAP_DOMAIN    "streamq-control"
//  Frames kept from a ZAP request: seven for CURVE
#define S_ZAP_FRAMES    8
//  Refused handshakes are logged at most once per interval (a refused
//  client redials, every 100 ms by default)
#define S_REFUSED_LOG_MS 10000

struct sq_control_auth_s {
    void *zap;                  //  REP, served by the thread
    pthread_t thread;
    bool running;
    int wake [2];               //  Pipe: destroy stops the thread
    pthread_mutex_t lock;       //  Guards keys
    bool lock_made;
    sq_keyset_t *keys;          //  Authorised keys
    char *clients_dir;
    bool open_read;
    sq_cert_t cert;             //  The proxy's key pair
    int64_t refused_logged;     //  When a refusal was last logged (thread)
    size_t refused_quiet;       //  Refusals not logged since (thread)
};

//  -------------------------------------------------------------------------
//  The ZAP handler (runs in the thread)

typedef struct {
    size_t count;               //  Frames in the request
    zmq_msg_t frame [S_ZAP_FRAMES];
} s_zap_request_t;

//  Receives one whole request (its first frame is waiting); false if none
static bool
s_zap_recv (void *socket, s_zap_request_t *request)
{
    request->count = 0;
    int more = 1;
    while (more) {
        zmq_msg_t scratch;
        zmq_msg_t *msg = request->count < S_ZAP_FRAMES?
                         &request->frame [request->count]: &scratch;
        zmq_msg_init (msg);
        if (zmq_msg_recv (msg, socket, request->count? 0: ZMQ_DONTWAIT) == -1) {
            zmq_msg_close (msg);
            return request->count > 0;
        }
        more = zmq_msg_more (msg);
        if (msg == &scratch)
            zmq_msg_close (msg);
        request->count++;
    }
    return true;
}

static void
s_zap_request_close (s_zap_request_t *request)
{
    size_t kept = request->count < S_ZAP_FRAMES? request->count: S_ZAP_FRAMES;
    for (size_t index = 0; index < kept; index++)
        zmq_msg_close (&request->frame [index]);
}

//  True when frame `index` holds exactly text
static bool
s_frame_is (s_zap_request_t *request, size_t index, const char *text)
{
    size_t size = strlen (text);
    return index < request->count && index < S_ZAP_FRAMES
        && zmq_msg_size (&request->frame [index]) == size
        && memcmp (zmq_msg_data (&request->frame [index]), text, size) == 0;
}

//  Sends the reply: version, request id, status, text, user id, metadata
static void
s_zap_reply (void *socket, s_zap_request_t *request, const char *status,
             const char *text, const char *user_id)
{
    zmq_send (socket, "1.0", 3, ZMQ_SNDMORE);
    if (request->count > 1)
        zmq_send (socket, zmq_msg_data (&request->frame [1]),
                  zmq_msg_size (&request->frame [1]), ZMQ_SNDMORE);
    else
        zmq_send (socket, "", 0, ZMQ_SNDMORE);
    zmq_send (socket, status, strlen (status), ZMQ_SNDMORE);
    zmq_send (socket, text, strlen (text), ZMQ_SNDMORE);
    zmq_send (socket, user_id, strlen (user_id), ZMQ_SNDMORE);
    zmq_send (socket, "", 0, 0);
}

static bool
s_key_known (sq_control_auth_t *self, const uint8_t *key)
{
    pthread_mutex_lock (&self->lock);
    bool known = sq_keyset_contains (self->keys, key);
    pthread_mutex_unlock (&self->lock);
    return known;
}

//  Logs a refused handshake, or counts it when one was logged lately
static void
s_log_refused (sq_control_auth_t *self, s_zap_request_t *request, const char *key)
{
    int64_t now = sq_clock_now ();
    if (self->refused_logged && now - self->refused_logged < S_REFUSED_LOG_MS) {
        self->refused_quiet++;
        return;
    }
    char address [64] = "";
    size_t size = zmq_msg_size (&request->frame [3]);
    if (size < sizeof address)
        memcpy (address, zmq_msg_data (&request->frame [3]), size);
    if (self->refused_quiet)
        sq_info ("control: refused a client from %s: key %s is not authorised "
                 "(and %zu refusals not logged before)", address, key,
                 self->refused_quiet);
    else
        sq_info ("control: refused a client from %s: key %s is not authorised",
                 address, key);
    self->refused_logged = now;
    self->refused_quiet = 0;
}

//  Decides on one request. A client of the control socket in our domain
//  with a key of the set is admitted; with open-read, any CURVE client is.
//  Either way its User-Id is its key, which each request is checked by.
static void
s_zap_serve (sq_control_auth_t *self)
{
    s_zap_request_t request;
    if (!s_zap_recv (self->zap, &request))
        return;
    uint8_t key [SQ_CERT_KEY_SIZE];
    char z85 [SQ_CERT_Z85_SIZE] = "";
    bool curve = request.count == 7 && s_frame_is (&request, 0, "1.0")
              && s_frame_is (&request, 2, S_ZAP_DOMAIN)
              && s_frame_is (&request, 5, "CURVE")
              && zmq_msg_size (&request.frame [6]) == SQ_CERT_KEY_SIZE;
    if (curve) {
        memcpy (key, zmq_msg_data (&request.frame [6]), SQ_CERT_KEY_SIZE);
        zmq_z85_encode (z85, key, SQ_CERT_KEY_SIZE);
    }
    if (!curve)
        s_zap_reply (self->zap, &request, "400", "not a control client", "");
    else
    if (s_key_known (self, key) || self->open_read) {
        sq_debug ("control: admitted key %s", z85);
        s_zap_reply (self->zap, &request, "200", "OK", z85);
    }
    else {
        s_log_refused (self, &request, z85);
        s_zap_reply (self->zap, &request, "400", "key not authorised", "");
    }
    s_zap_request_close (&request);
}

static void *
s_thread (void *args)
{
    sq_control_auth_t *self = args;
    while (true) {
        zmq_pollitem_t items [] = {
            { self->zap, 0, ZMQ_POLLIN, 0 },
            { NULL, self->wake [0], ZMQ_POLLIN, 0 }
        };
        if (zmq_poll (items, 2, -1) == -1) {
            if (zmq_errno () == EINTR)
                continue;
            sq_error ("control: the ZAP handler stopped: %s", zmq_strerror (zmq_errno ()));
            break;
        }
        if (items [1].revents & ZMQ_POLLIN)
            break;
        if (items [0].revents & ZMQ_POLLIN)
            s_zap_serve (self);
    }
    return NULL;
}

//  Starts the thread with every signal blocked: signals must reach the
//  main thread, whose poll they interrupt
static bool
s_thread_start (sq_control_auth_t *self)
{
    sigset_t all, previous;
    sigfillset (&all);
    pthread_sigmask (SIG_SETMASK, &all, &previous);
    int rc = pthread_create (&self->thread, NULL, s_thread, self);
    pthread_sigmask (SIG_SETMASK, &previous, NULL);
    self->running = rc == 0;
    return self->running;
}

//  -------------------------------------------------------------------------
//  Set-up

//  Warns when the secret key file can be read by others than its owner
static void
s_check_mode (const char *path)
{
    struct stat info;
    if (stat (path, &info) == 0 && (info.st_mode & 077))
        sq_warning ("%s, the proxy's secret key, can be read by other users "
                    "(chmod 600 it)", path);
}

//  Loads the keys and binds the handler; false with a reason
static bool
s_load (sq_control_auth_t *self, void *context, const sq_control_auth_config_t *config,
        char *error, size_t size)
{
    if (!sq_cert_load_secret (config->key_file, &self->cert, error, size))
        return false;
    self->keys = sq_keyset_load_dir (config->clients_dir, error, size);
    if (!self->keys)
        return false;
    self->zap = zmq_socket (context, ZMQ_REP);
    int linger = 0;
    if (!self->zap
    ||  zmq_setsockopt (self->zap, ZMQ_LINGER, &linger, sizeof linger) != 0
    ||  zmq_bind (self->zap, S_ZAP_ENDPOINT) != 0) {
        snprintf (error, size, "cannot bind the ZAP handler: %s", zmq_strerror (zmq_errno ()));
        return false;
    }
    return true;
}

//  Logs what the control socket admits
static void
s_log_start (sq_control_auth_t *self)
{
    size_t keys = sq_keyset_size (self->keys);
    sq_info ("control: CURVE, public key %s", self->cert.public_key);
    sq_info ("control keys: %zu authorised key%s loaded from %s", keys,
             keys == 1? "": "s", self->clients_dir);
    if (self->open_read)
        sq_info ("control: any CURVE key may run PING, STATS, LIST, WORKERS, "
                 "CLIENTS and ROUTES (--control-open-read)");
    if (keys == 0)
        sq_warning ("control keys: none in %s: no client can %s", self->clients_dir,
                    self->open_read? "change the proxy's state": "use the control socket");
}

bool
sq_control_auth_start (sq_control_auth_t **self_p, void *context,
                       const sq_control_auth_config_t *config, char *error, size_t size)
{
    *self_p = NULL;
    if (!config->key_file)
        return true;
    sq_control_auth_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (error, size, "out of memory");
        return false;
    }
    self->wake [0] = self->wake [1] = -1;
    self->open_read = config->open_read;
    self->clients_dir = strdup (config->clients_dir);
    self->lock_made = pthread_mutex_init (&self->lock, NULL) == 0;
    if (!self->clients_dir || !self->lock_made
    ||  pipe2 (self->wake, O_CLOEXEC | O_NONBLOCK) != 0)
        snprintf (error, size, "out of resources: %s", strerror (errno));
    else
    if (s_load (self, context, config, error, size)) {
        if (s_thread_start (self)) {
            s_check_mode (config->key_file);
            s_log_start (self);
            *self_p = self;
            return true;
        }
        snprintf (error, size, "cannot start the ZAP handler thread");
    }
    sq_control_auth_destroy (&self);
    return false;
}

void
sq_control_auth_destroy (sq_control_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sq_control_auth_t *self = *self_p;
    if (self->running) {
        char byte = 0;
        while (write (self->wake [1], &byte, 1) == -1 && errno == EINTR)
            ;
        pthread_join (self->thread, NULL);
    }
    if (self->zap)
        zmq_close (self->zap);
    for (int index = 0; index < 2; index++)
        if (self->wake [index] >= 0)
            close (self->wake [index]);
    if (self->lock_made)
        pthread_mutex_destroy (&self->lock);
    sq_keyset_destroy (&self->keys);
    free (self->clients_dir);
    //  The secret key leaves no copy behind in freed memory
    explicit_bzero (&self->cert, sizeof self->cert);
    free (self);
    *self_p = NULL;
}

int
sq_control_auth_apply (sq_control_auth_t *self, void *socket)
{
    int as_server = 1;
    if (zmq_setsockopt (socket, ZMQ_CURVE_SERVER, &as_server, sizeof as_server) != 0
    ||  zmq_setsockopt (socket, ZMQ_CURVE_PUBLICKEY, self->cert.public_key, 40) != 0
    ||  zmq_setsockopt (socket, ZMQ_CURVE_SECRETKEY, self->cert.secret_key, 40) != 0
    ||  zmq_setsockopt (socket, ZMQ_ZAP_DOMAIN, S_ZAP_DOMAIN, strlen (S_ZAP_DOMAIN)) != 0)
        return -1;
    return 0;
}

bool
sq_control_auth_reload (sq_control_auth_t *self)
{
    char error [512];
    sq_keyset_t *keys = sq_keyset_load_dir (self->clients_dir, error, sizeof error);
    if (!keys) {
        sq_error ("control keys: %s: keeping the %zu keys in force", error,
                  sq_keyset_size (self->keys));
        return false;
    }
    pthread_mutex_lock (&self->lock);
    sq_keyset_t *old = self->keys;
    self->keys = keys;
    pthread_mutex_unlock (&self->lock);
    sq_keyset_destroy (&old);
    size_t size = sq_keyset_size (keys);
    sq_info ("control keys: %zu authorised key%s loaded from %s", size,
             size == 1? "": "s", self->clients_dir);
    return true;
}

//  Copies the command frame as text for the checks and the log; "?" when
//  it is not short printable text (the command table refuses it anyway)
static void
s_command_text (zmq_msg_t *frame, char *text, size_t size)
{
    size_t length = zmq_msg_size (frame);
    const char *data = zmq_msg_data (frame);
    bool printable = length > 0 && length < size;
    for (size_t index = 0; printable && index < length; index++)
        printable = data [index] > 0x20 && data [index] < 0x7F;
    if (printable) {
        memcpy (text, data, length);
        text [length] = 0;
    }
    else
        snprintf (text, size, "?");
}

bool
sq_control_auth_allows (sq_control_auth_t *self, zmq_msg_t *command)
{
    if (!self)
        return true;
    const char *user = zmq_msg_gets (command, "User-Id");
    uint8_t key [SQ_CERT_KEY_SIZE];
    if (user && sq_cert_z85_valid (user, key) && s_key_known (self, key))
        return true;
    char text [32];
    s_command_text (command, text, sizeof text);
    if (self->open_read && sq_control_read_only (text))
        return true;
    sq_info ("control: refused %s from key %s: not authorised", text,
             user && *user? user: "(none)");
    return false;
}

const char *
sq_control_auth_public_key (sq_control_auth_t *self)
{
    return self? self->cert.public_key: NULL;
}
