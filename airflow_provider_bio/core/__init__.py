"""Pure logic: no Airflow, no boto3. Planning, transforms and reports that the operators call."""
