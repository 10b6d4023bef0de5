/* What a content type means to the codecs, parameters (";charset=") ignored. */
#ifndef SVC_CODEC_CONTENT_TYPE_H
#define SVC_CODEC_CONTENT_TYPE_H

typedef enum svc_ct_kind {
    SVC_CT_KIND_NONE,  /* no content type */
    SVC_CT_KIND_JSON,  /* application/json, application/<x>+json */
    SVC_CT_KIND_PROTO, /* application/proto, application/(x-)protobuf */
    SVC_CT_KIND_OTHER,
} svc_ct_kind;

svc_ct_kind svc_ct_classify(const char *ct);

#endif
