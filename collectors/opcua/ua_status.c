/*
 * ua_status.c — names and quality of OPC UA status codes.
 *
 * Part of the OPC UA client library (no ring, no I/O). One table of the status codes we
 * meet, looked up by the code's upper 16 bits (the lower ones are info flags); anything
 * else prints as hex. The UA_BAD_* constants in ua_types.h must name the same codes as
 * this table. Read-only data: nothing here allocates or keeps state.
 */
#include "ua_types.h"

#include <inttypes.h>
#include <stdio.h>

static const struct {
        uint32_t code;
        const char *name;
} status_names[] = {
        { 0x00000000u, "Good" },
        { 0x80010000u, "BadUnexpectedError" },
        { 0x80020000u, "BadInternalError" },
        { 0x80030000u, "BadOutOfMemory" },
        { 0x80040000u, "BadResourceUnavailable" },
        { 0x80050000u, "BadCommunicationError" },
        { 0x80060000u, "BadEncodingError" },
        { 0x80070000u, "BadDecodingError" },
        { 0x80080000u, "BadEncodingLimitsExceeded" },
        { 0x80B80000u, "BadRequestTooLarge" },
        { 0x800A0000u, "BadTimeout" },
        { 0x800B0000u, "BadServiceUnsupported" },
        { 0x800C0000u, "BadShutdown" },
        { 0x800D0000u, "BadServerNotConnected" },
        { 0x800E0000u, "BadServerHalted" },
        { 0x800F0000u, "BadNothingToDo" },
        { 0x80100000u, "BadTooManyOperations" },
        { 0x80130000u, "BadSecurityChecksFailed" },
        { 0x801F0000u, "BadUserAccessDenied" },
        { 0x80200000u, "BadIdentityTokenInvalid" },
        { 0x80210000u, "BadIdentityTokenRejected" },
        { 0x80220000u, "BadSecureChannelIdInvalid" },
        { 0x80230000u, "BadInvalidTimestamp" },
        { 0x80240000u, "BadNonceInvalid" },
        { 0x80250000u, "BadSessionIdInvalid" },
        { 0x80260000u, "BadSessionClosed" },
        { 0x80270000u, "BadSessionNotActivated" },
        { 0x80280000u, "BadSubscriptionIdInvalid" },
        { 0x802A0000u, "BadRequestHeaderInvalid" },
        { 0x802B0000u, "BadTimestampsToReturnInvalid" },
        { 0x80310000u, "BadNoCommunication" },
        { 0x80320000u, "BadWaitingForInitialData" },
        { 0x80330000u, "BadNodeIdInvalid" },
        { 0x80340000u, "BadNodeIdUnknown" },
        { 0x80350000u, "BadAttributeIdInvalid" },
        { 0x80360000u, "BadIndexRangeInvalid" },
        { 0x80370000u, "BadIndexRangeNoData" },
        { 0x80380000u, "BadDataEncodingInvalid" },
        { 0x80390000u, "BadDataEncodingUnsupported" },
        { 0x803A0000u, "BadNotReadable" },
        { 0x803B0000u, "BadNotWritable" },
        { 0x803C0000u, "BadOutOfRange" },
        { 0x803D0000u, "BadNotSupported" },
        { 0x803E0000u, "BadNotFound" },
        { 0x803F0000u, "BadObjectDeleted" },
        { 0x80400000u, "BadNotImplemented" },
        { 0x80410000u, "BadMonitoringModeInvalid" },
        { 0x80420000u, "BadMonitoredItemIdInvalid" },
        { 0x80430000u, "BadMonitoredItemFilterInvalid" },
        { 0x80440000u, "BadMonitoredItemFilterUnsupported" },
        { 0x80450000u, "BadFilterNotAllowed" },
        { 0x804A0000u, "BadContinuationPointInvalid" },
        { 0x804B0000u, "BadNoContinuationPoints" },
        { 0x806F0000u, "BadNoMatch" },
        { 0x80740000u, "BadTypeMismatch" },
        { 0x80770000u, "BadTooManySubscriptions" },
        { 0x80780000u, "BadTooManyPublishRequests" },
        { 0x80790000u, "BadNoSubscription" },
        { 0x807A0000u, "BadSequenceNumberUnknown" },
        { 0x807D0000u, "BadTcpServerTooBusy" },
        { 0x807E0000u, "BadTcpMessageTypeInvalid" },
        { 0x807F0000u, "BadTcpSecureChannelUnknown" },
        { 0x80800000u, "BadTcpMessageTooLarge" },
        { 0x80810000u, "BadTcpNotEnoughResources" },
        { 0x80820000u, "BadTcpInternalError" },
        { 0x80830000u, "BadTcpEndpointUrlInvalid" },
        { 0x80840000u, "BadRequestInterrupted" },
        { 0x80850000u, "BadRequestTimeout" },
        { 0x80860000u, "BadSecureChannelClosed" },
        { 0x80870000u, "BadSecureChannelTokenUnknown" },
        { 0x80880000u, "BadSequenceNumberInvalid" },
        { 0x808E0000u, "BadDeadbandFilterInvalid" },
        { 0x80AB0000u, "BadInvalidArgument" },
        { 0x80AC0000u, "BadConnectionRejected" },
        { 0x80AD0000u, "BadDisconnect" },
        { 0x80AE0000u, "BadConnectionClosed" },
        { 0x80AF0000u, "BadInvalidState" },
        { 0x80B00000u, "BadEndOfStream" },
        { 0x80B70000u, "BadMaxConnectionsReached" },
        { 0x40000000u, "Uncertain" },
        { 0x40900000u, "UncertainLastUsableValue" },
        { 0x40910000u, "UncertainSubstituteValue" },
        { 0x40920000u, "UncertainInitialValue" },
        { 0x80000000u, "Bad" },
};

/* Status code constants above that need names match the table; checked by the unit test. */

const char *ua_status_name(uint32_t status, char *buf, size_t size)
{
        uint32_t code = status & 0xffff0000u; /* the low bits are info flags */
        for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
                if (status_names[i].code == code)
                        return status_names[i].name;
        snprintf(buf, size, "0x%08" PRIX32, status);
        return buf;
}

const char *ua_status_quality(uint32_t status)
{
        switch (status >> 30) {
        case 0:
                return "Good";
        case 1:
                return "Uncertain";
        default:
                return "Bad";
        }
}
