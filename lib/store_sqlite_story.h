/*
 * store_sqlite_story.h - the SQLite backend's operation for report open
 * and report message (store_sqlite_story.c), for the ops table in
 * store_sqlite.c. Internal to lib/.
 */
#ifndef POSTMETER_STORE_SQLITE_STORY_H
#define POSTMETER_STORE_SQLITE_STORY_H

#include "store_story.h"

/* sqlite_story_tracked - tracked rows by token, queue id or uid (store_backend.h: story_tracked) */
enum store_status sqlite_story_tracked(struct store *s, enum store_story_by by, const char *value,
                                       int (*fn)(const struct store_story_tracked *t, void *arg),
                                       void *arg);

#endif
