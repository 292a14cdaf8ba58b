"""What compliance means for a person, and its roll-ups per institution, district and city:
summary tables, snapshots, the regulator's and the institutions' dashboards and exports."""
