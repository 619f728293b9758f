"""Laboratory interfaces (SPEC 7): FHIR Genomics bundles, HL7 v2 ORU^R01 and CSV batches,
parsed by pure code (`imports.parsers`), matched to a patient's draw and recorded through the
same services as a typed result (`imports.services`); what cannot be matched waits in the
nurses' inbox."""
