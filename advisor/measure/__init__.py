"""What a measurement is (a candidate's job), the energy meters, and where jobs run (executors, worker processes, devices)."""
