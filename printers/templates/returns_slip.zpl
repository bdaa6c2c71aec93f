{#- Returns slip, 4x6 in at 203 dpi. Every {{ }} passes through zpl_text;
    text_block: see shipping_4x6.zpl. -#}
^XA
^CI28
^PW812
^LL1218
^LH0,0
{% if font %}^CW{{ font.letter }},{{ font.path }}{% endif %}
^FO30,24^A0N,50,50^FDRETURN^FS
{{ text_block("Order " ~ order_number, x=30, y=90, width=752, height=44, size=30, pitch=34,
              fixed=true) }}
^FO0,136^GB812,3,3^FS
^FX the customer sending the return
^FO30,150^A0N,22,22^FDFROM^FS
{{ text_block(customer_lines, x=30, y=178, width=752, height=266, size=28, pitch=32,
              country=slip.customer.country) }}
^FO0,446^GB812,3,3^FS
^FX the warehouse receiving it
^FO30,460^A0N,22,22^FDRETURN TO^FS
{{ text_block(return_lines, x=30, y=490, width=752, height=308, size=34, pitch=38,
              country=slip.return_to.country) }}
^FO0,800^GB812,3,3^FS
^FX RMA number, Code 128 (automatic subsets)
^FO30,812^A0N,22,22^FDRMA^FS
^FO60,840^BY{{ rma_by }},3.0,160^BCN,160,Y,N,N,A^FD{{ slip.rma_number }}^FS
^FO0,1050^GB812,3,3^FS
{% if slip.reason %}
{{ text_block("Reason: " ~ slip.reason, x=30, y=1066, width=752, height=120, size=30, pitch=34,
              country=slip.customer.country) }}
{% endif %}
^FO30,1192^A0N,18,18^FH^FDjob {{ job_id }}^FS
^XZ
