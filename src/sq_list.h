/*  =========================================================================
    sq_list - intrusive doubly linked lists

    A node lives inside the object it links, so an object can sit in several
    lists at once and leave any of them in O(1) without a search. An empty
    list and an unlinked node both point to themselves.
    =========================================================================
*/
#ifndef SQ_LIST_H_INCLUDED
#define SQ_LIST_H_INCLUDED

#include <stddef.h>
#include <stdbool.h>

typedef struct sq_list_node {
    struct sq_list_node *next;
    struct sq_list_node *prev;
} sq_list_node_t;

//  A list is a sentinel node
typedef sq_list_node_t sq_list_t;

//  The object that holds a node, from a pointer to the node
#define sq_list_entry(node, type, member) \
    ((type *) ((char *) (node) - offsetof (type, member)))

static inline void
sq_list_init (sq_list_node_t *node)
{
    node->next = node->prev = node;
}

static inline bool
sq_list_empty (const sq_list_t *list)
{
    return list->next == list;
}

//  True when the node is in some list
static inline bool
sq_list_linked (const sq_list_node_t *node)
{
    return node->next != node;
}

static inline void
sq_list_append (sq_list_t *list, sq_list_node_t *node)
{
    node->prev = list->prev;
    node->next = list;
    list->prev->next = node;
    list->prev = node;
}

//  Unlinks the node from whatever list holds it; safe on an unlinked node
static inline void
sq_list_remove (sq_list_node_t *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    sq_list_init (node);
}

//  The first node, or NULL when the list is empty
static inline sq_list_node_t *
sq_list_first (const sq_list_t *list)
{
    return sq_list_empty (list)? NULL: list->next;
}

//  Moves every node of src to the tail of dst; src is empty afterwards.
//  Lets a caller walk a list whose members may leave it while it walks.
static inline void
sq_list_move_all (sq_list_t *dst, sq_list_t *src)
{
    if (sq_list_empty (src))
        return;
    src->next->prev = dst->prev;
    src->prev->next = dst;
    dst->prev->next = src->next;
    dst->prev = src->prev;
    sq_list_init (src);
}

#endif
