/* Internal: the private jemalloc's API (prefix mgje_, built by subprojects/packagefiles/jemalloc). Only files
 * that talk to jemalloc include this; nothing of it reaches the public headers. */
#ifndef MG_INTERNAL_JE_H
#define MG_INTERNAL_JE_H

#include "mgje.h"

#endif
