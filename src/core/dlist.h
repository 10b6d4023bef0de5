/*
 * Intrusive doubly linked lists, as the library keeps many (calls in
 * flight, subscriptions, timers): a head pointer, and in each node a pair
 * of link fields named by the caller, so that one node can sit on several
 * lists. Macros because the node types differ. No locking: the caller's.
 */
#ifndef SVC_CORE_DLIST_H
#define SVC_CORE_DLIST_H

#include <stddef.h>

/* Puts `node` first on the list at `head`. */
#define SVC_DLIST_PUSH(head, node, prev, next)                                                     \
    do {                                                                                           \
        (node)->prev = NULL;                                                                       \
        (node)->next = (head);                                                                     \
        if (head)                                                                                  \
            (head)->prev = (node);                                                                 \
        (head) = (node);                                                                           \
    } while (0)

/* True while `node` is on the list at `head`. */
#define SVC_DLIST_LINKED(head, node, prev) ((node)->prev || (head) == (node))

/* Takes `node` off the list at `head`, if it is on it. */
#define SVC_DLIST_REMOVE(head, node, prev, next)                                                   \
    do {                                                                                           \
        if (SVC_DLIST_LINKED(head, node, prev)) {                                                  \
            if ((node)->prev)                                                                      \
                (node)->prev->next = (node)->next;                                                 \
            else                                                                                   \
                (head) = (node)->next;                                                             \
            if ((node)->next)                                                                      \
                (node)->next->prev = (node)->prev;                                                 \
            (node)->prev = (node)->next = NULL;                                                    \
        }                                                                                          \
    } while (0)

#endif
