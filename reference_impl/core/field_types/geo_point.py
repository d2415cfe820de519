"""``geoPoint``: ``{"lon", "lat"}`` in degrees, stored as JSON (``core/field_geo_point.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reference_impl.core.casts import to_number
from reference_impl.core.errors import field_error
from reference_impl.core.field_types.base import FieldType, Problem
from reference_impl.core.field_types.json import go_json
from reference_impl.ir.kinds import Kind

if TYPE_CHECKING:
    from reference_impl.core.fields import Field


class GeoPointType(FieldType):
    name = "geoPoint"

    def kind(self, f: Field) -> Kind:
        return Kind.JSON

    def zero(self, f: Field) -> Any:
        return {"lon": 0, "lat": 0}

    def cast(self, f: Field, raw: Any) -> Any:
        point = raw if isinstance(raw, dict) else {}
        return {"lon": to_number(point.get("lon", 0)), "lat": to_number(point.get("lat", 0))}

    def check(self, f: Field, value: Any) -> Problem | None:
        if not isinstance(value, dict):
            return None
        if not -90 <= value.get("lat", 0) <= 90:
            return field_error(
                "validation_invalid_latitude", "Latitude must be between -90 and 90 degrees."
            )
        if not -180 <= value.get("lon", 0) <= 180:
            return field_error(
                "validation_invalid_longitude", "Longitude must be between -180 and 180 degrees."
            )
        return None

    def export(self, f: Field, value: Any) -> Any:
        if isinstance(value, dict):
            return {"lon": value.get("lon", 0), "lat": value.get("lat", 0)}  # Go struct order
        return go_json(value)


TYPE = GeoPointType()
