"""What the server is and publishes: the CapabilityStatement, OperationDefinitions, the Questionnaires'
CodeSystems, the rules as knowledge artifacts (PlanDefinition, ActivityDefinition, Library, $apply),
and Swagger UI."""
