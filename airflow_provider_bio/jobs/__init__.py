"""Code that runs inside AWS (Glue, Batch), not in Airflow. It imports ``core/``, never Airflow."""
