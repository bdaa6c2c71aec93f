{#- 4x6 in shipping label, 203 dpi. Jinja: every {{ }} passes through zpl_text (finalize).
    Customer text: one ^FO field per line with ^FH (no ^FB, where a backslash is special). -#}
^XA
^CI28
^PW812
^LL1218
^LH0,0
{% if font %}^CW{{ font.letter }},{{ font.path }}{% endif %}
^FX sender
^FO30,16^A0N,20,20^FDFROM^FS
{% for line in sender_lines %}
^FO30,{{ 40 + loop.index0 * 24 }}^A{{ cf }}N,22,22^FH^FD{{ line }}^FS
{% endfor %}
^FO0,212^GB812,3,3^FS
^FX recipient: name, address lines, phone
^FO30,222^A0N,22,22^FDSHIP TO^FS
^FO30,248^A{{ cf }}N,42,42^FH^FD{{ recipient.name }}^FS
{% for line in recipient_lines %}
^FO30,{{ 296 + loop.index0 * 34 }}^A{{ cf }}N,30,30^FH^FD{{ line }}^FS
{% endfor %}
^FO0,572^GB812,3,3^FS
^FX carrier, service, parcel n of m, weight, order number
^FO30,584^A0N,40,40^FH^FD{{ label.carrier }}^FS
^FO30,630^A0N,30,30^FH^FD{{ label.service }}^FS
^FO540,584^FB242,1,0,R,0^A0N,40,40^FD{{ label.parcel_index }} / {{ label.parcel_count }}^FS
^FO540,630^FB242,1,0,R,0^A0N,30,30^FD{{ weight }}^FS
^FO30,668^A0N,28,28^FH^FDOrder {{ order_number }}^FS
^FO0,706^GB812,3,3^FS
^FX tracking number, Code 128 (automatic subsets)
^FO30,714^A0N,22,22^FDTRACKING^FS
^FO60,742^BY{{ tracking_by }},3.0,140^BCN,140,Y,N,N,A^FD{{ label.tracking_number }}^FS
^FO0,930^GB812,3,3^FS
^FX SSCC, GS1-128: >; subset C, >8 FNC1, AI 00; the lowest barcode
^FO30,940^A0N,22,22^FDSSCC^FS
^FO90,966^BY4,3.0,180^BCN,180,N,N,N,N^FD>;>800{{ label.sscc }}^FS
^FO30,1152^FB752,1,0,C,0^A0N,30,30^FD(00) {{ label.sscc }}^FS
^FO30,1192^A0N,18,18^FH^FDjob {{ job_id }}^FS
^XZ
