"""The policy's /diagnostics status, built from one record with the contract's keys."""

from __future__ import annotations

from collections.abc import Mapping

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from dyq_vla_ros.contract import DIAGNOSTIC_KEYS, DIAGNOSTIC_STATUS_NAME

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def make_status(
    record: Mapping[str, object],
    *,
    level: bytes,
    message: str,
    hardware_id: str,
    extra: Mapping[str, object] | None = None,
) -> DiagnosticStatus:
    """One DiagnosticStatus holding every contract key (in contract order) plus extra keys."""
    missing = [k for k in DIAGNOSTIC_KEYS if k not in record]
    if missing:
        raise KeyError(f"diagnostics record lacks {missing}")
    status = DiagnosticStatus(level=level, name=DIAGNOSTIC_STATUS_NAME, message=message, hardware_id=hardware_id)
    items = [(k, record[k]) for k in DIAGNOSTIC_KEYS] + list((extra or {}).items())
    status.values = [KeyValue(key=k, value=_format(v)) for k, v in items]
    return status


def make_array(status: DiagnosticStatus, stamp) -> DiagnosticArray:
    """DiagnosticArray carrying one status."""
    array = DiagnosticArray()
    array.header.stamp = stamp
    array.status = [status]
    return array
