/*
 * RFC 7807 problem documents as ACME servers send them (RFC 8555 section
 * 6.7), turned into one line for error messages.
 */
#ifndef CUSTOS_BROKER_PROBLEM_H
#define CUSTOS_BROKER_PROBLEM_H

#include <stddef.h>

#include <jansson.h>

#define PROBLEM_ACME_PREFIX "urn:ietf:params:acme:error:"

/*
 * Formats a problem document as "TYPE: DETAIL (HTTP STATUS)" followed by
 * "; IDTYPE:IDVALUE: TYPE: DETAIL" for each subproblem. The ACME prefix is
 * removed from types. Members of the wrong JSON type are treated as absent.
 * The document's own status is used when valid, http_status otherwise (0:
 * none). Always writes a NUL-terminated line into out.
 */
void problem_format(const json_t *doc, long http_status, char *out,
    size_t outlen);

/* Parses body as JSON and formats it; a body that is not an object is
 * described as such. */
void problem_format_body(const char *body, size_t len, long http_status,
    char *out, size_t outlen);

/*
 * Returns 1 when the document's type is the ACME error type acme_type (for
 * example "badNonce"), 0 otherwise.
 */
int problem_is(const json_t *doc, const char *acme_type);

#endif
