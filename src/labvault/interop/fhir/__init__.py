"""FHIR R4 (the R4B models of ``fhir.resources``): labvault's records as FHIR resources, search
parameters parsed, bundles and OperationOutcomes built. Pure: records in, resources out; the
routes (web/routes/fhir*.py) fetch the records through the services, which authorize and audit."""
