"""The publisher's release tool: packing, signing and publishing releases."""
