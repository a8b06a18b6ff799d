#ifndef SHOAL_EVENT_HANDLER_H
#define SHOAL_EVENT_HANDLER_H
/* What a worker's epoll loop calls for a ready descriptor.
 *
 * Every object a worker watches (a connection, a listener, the wake eventfd, a backend socket)
 * embeds one of these and registers its address as the epoll data pointer. The loop then needs
 * no knowledge of the kinds of descriptors: it calls h->on_event(h, events), and the handler
 * finds its owner with EVENT_HANDLER_OWNER. A new kind of descriptor is one new handler, not a
 * new tag to decode in the loop. The handler costs one pointer in its owner and one indirect
 * call per event; nothing is allocated for it. */
#include <stddef.h>
#include <stdint.h>

struct event_handler {
    /* events: the epoll event mask (EPOLLIN, EPOLLOUT, EPOLLERR, ...). */
    void (*on_event)(struct event_handler *h, uint32_t events);
};

/* The object of type `type` whose member `field` is the handler h. */
#define EVENT_HANDLER_OWNER(h, type, field) ((type *)(void *)((char *)(h) - offsetof(type, field)))

#endif
