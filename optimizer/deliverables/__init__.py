"""What a planning run hands over: report, maps, workbook, GeoPackage and log."""
