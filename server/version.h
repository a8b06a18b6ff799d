#ifndef SHOAL_VERSION_H
#define SHOAL_VERSION_H
/* Shoal's own version, and the memcached release whose protocol it answers as. The `version`
 * command and `stats` report "<memcached>-shoal-<shoal>" so that clients which gate features on
 * memcached's version number (meta commands need 1.6) see the version they expect. */
#define SHOAL_VERSION "0.1.0"
#define SHOAL_MEMCACHED_VERSION "1.6.18"
#define SHOAL_VERSION_STRING SHOAL_MEMCACHED_VERSION "-shoal-" SHOAL_VERSION
#endif
