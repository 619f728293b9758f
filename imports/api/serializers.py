from rest_framework import serializers

from imports.models import ImportMessage, ImportReport


class ImportReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportReport
        fields = [
            "id", "position", "state", "reason", "report_id", "report_status", "mrn",
            "birth_date", "accession", "collected_on", "reported_on", "assay", "variants",
            "other_findings", "patient", "draw", "result", "settled_by", "settled_at",
        ]  # fmt: skip
        read_only_fields = fields


class ImportMessageSerializer(serializers.ModelSerializer):
    reports = ImportReportSerializer(many=True, read_only=True)
    sender = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ImportMessage
        fields = [
            "id", "format", "channel", "received_at", "sender", "control_id", "state",
            "reason", "reports",
        ]  # fmt: skip
        read_only_fields = fields


class ImportMessageDetailSerializer(ImportMessageSerializer):
    class Meta(ImportMessageSerializer.Meta):
        fields = [*ImportMessageSerializer.Meta.fields, "raw"]
        read_only_fields = fields


class ImportAnswerSerializer(serializers.Serializer):
    """What every import answers: 201 imported, 200 duplicate, 202 unmatched (held) or
    preliminary, 422 rejected."""

    import_ = serializers.IntegerField()
    state = serializers.CharField()
    result = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    reports = serializers.ListField(child=serializers.DictField())

    def get_fields(self):
        fields = super().get_fields()
        fields["import"] = fields.pop("import_")
        return fields


class MatchSerializer(serializers.Serializer):
    report = serializers.IntegerField(required=False)
    patient = serializers.IntegerField()
    draw = serializers.IntegerField(required=False, allow_null=True)


class RejectSerializer(serializers.Serializer):
    report = serializers.IntegerField(required=False)
    reason = serializers.CharField(max_length=500)
