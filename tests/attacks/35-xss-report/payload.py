# ATTACK xss-report: markup in the candidate's own error text, which reaches the report's failure table.
raise SystemExit('ATTACK xss-report <img src=x onerror="document.title=\'PWNED\'"><svg onload=alert(1)>'
                 '<a href="javascript:alert(1)">x</a>')
