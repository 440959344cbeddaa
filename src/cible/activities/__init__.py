"""Target's authoring resources: offers, activities, audiences, mboxes, properties, environments."""
