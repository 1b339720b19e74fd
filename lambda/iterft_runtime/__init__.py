"""The iterft runtime: the code shipped to Lambda (handlers, logic, data access)."""
