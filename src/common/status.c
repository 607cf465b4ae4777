/* Names and descriptions of the pinned status codes. */
#include "memgov/common.h"

static const struct {
    const char *name;
    const char *text;
} statuses[MEMGOV_STATUS_COUNT_] = {
    [MEMGOV_OK] = {"MEMGOV_OK", "success"},
    [MEMGOV_EINVAL] = {"MEMGOV_EINVAL", "invalid argument"},
    [MEMGOV_ENOMEM] = {"MEMGOV_ENOMEM", "refused: a hard memory limit would be exceeded, or the system is out of memory"},
    [MEMGOV_EOVERFLOW] = {"MEMGOV_EOVERFLOW", "a size computation would overflow"},
    [MEMGOV_EBUSY] = {"MEMGOV_EBUSY", "the object is in use"},
    [MEMGOV_ENOTFOUND] = {"MEMGOV_ENOTFOUND", "not found"},
    [MEMGOV_EEXIST] = {"MEMGOV_EEXIST", "already exists"},
    [MEMGOV_ERANGE] = {"MEMGOV_ERANGE", "value out of range"},
    [MEMGOV_ETYPE] = {"MEMGOV_ETYPE", "value of the wrong type"},
    [MEMGOV_EPARSE] = {"MEMGOV_EPARSE", "text could not be parsed"},
    [MEMGOV_EIO] = {"MEMGOV_EIO", "an operating-system I/O call failed"},
    [MEMGOV_ENOSPC] = {"MEMGOV_ENOSPC", "no space left on the device"},
    [MEMGOV_EUNSUPPORTED] = {"MEMGOV_EUNSUPPORTED", "not supported on this platform or in this build"},
    [MEMGOV_ESTATE] = {"MEMGOV_ESTATE", "not valid in the object's current state"},
    [MEMGOV_ECANCELED] = {"MEMGOV_ECANCELED", "canceled"},
    [MEMGOV_EINTERNAL] = {"MEMGOV_EINTERNAL", "internal error (please report it with the message)"},
};

static int known(memgov_status status)
{
    return (unsigned)status < (unsigned)MEMGOV_STATUS_COUNT_;
}

MEMGOV_API const char *memgov_status_name(memgov_status status)
{
    return known(status) ? statuses[status].name : "MEMGOV_UNKNOWN_STATUS";
}

MEMGOV_API const char *memgov_status_str(memgov_status status)
{
    return known(status) ? statuses[status].text : "unknown status";
}
